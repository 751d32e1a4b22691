package inventory_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	inv_testing "github.com/open-edge-platform/infra-core/inventory/v2/pkg/testing"

	"github.com/dmrm/dm-manager/internal/inventory"
	"github.com/dmrm/dm-manager/test/invtest"
)

func TestMain(m *testing.M) { invtest.Main(m) }

// newClient registers our wrapper with the in-process Inventory, as production does against the real address;
// extra dial options come after the in-process dialer.
func newClient(t *testing.T, opts ...grpc.DialOption) *inventory.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := inventory.New(ctx, inventory.Config{
		Address:      invtest.Address,
		DialOptions:  append(invtest.DialOptions(), opts...),
		Insecure:     true,
		Name:         "dm-manager-test-" + t.Name(),
		ResyncPeriod: time.Hour, // tests drive Resync themselves
		Log:          zerolog.New(zerolog.NewTestWriter(t)),
	})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// createTenant creates the tenant as EMF's tenant controller does (desired CREATED) and deletes it after the test.
func createTenant(t *testing.T, tenant string) {
	t.Helper()
	invtest.DAO(t).CreateTenantWithOpts(t, tenant, true, inv_testing.TenantDesiredStateCreated())
}

type hostReq struct {
	id    inventory.HostID
	cause inventory.Cause
}

type tenantReq struct {
	id    inventory.TenantID
	cause inventory.Cause
}

// recorder collects requests on buffered channels; tests wait on them instead of sleeping.
type recorder struct {
	hosts   chan hostReq
	tenants chan tenantReq
}

func newRecorder() *recorder {
	return &recorder{hosts: make(chan hostReq, 1024), tenants: make(chan tenantReq, 1024)}
}

func (r *recorder) handlers() inventory.Handlers {
	return inventory.Handlers{
		Host:   func(id inventory.HostID, c inventory.Cause) { r.hosts <- hostReq{id, c} },
		Tenant: func(id inventory.TenantID, c inventory.Cause) { r.tenants <- tenantReq{id, c} },
	}
}

// waitHost returns the first host request matching uuid and cause, failing after 20s.
func (r *recorder) waitHost(t *testing.T, uuid string, cause inventory.Cause) hostReq {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case req := <-r.hosts:
			if req.id.UUID == uuid && req.cause == cause {
				return req
			}
		case <-deadline:
			t.Fatalf("no %v request for host %s", cause, uuid)
		}
	}
}

func (r *recorder) waitTenant(t *testing.T, tenant string, cause inventory.Cause) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case req := <-r.tenants:
			if req.id.Tenant == tenant && req.cause == cause {
				return
			}
		case <-deadline:
			t.Fatalf("no %v request for tenant %s", cause, tenant)
		}
	}
}
