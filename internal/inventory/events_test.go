package inventory_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	inv_v1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/inventory/v1"

	"github.com/dmrm/dm-manager/internal/inventory"
	"github.com/dmrm/dm-manager/test/invtest"
)

func TestEventsBecomeRequests(t *testing.T) {
	c := newClient(t)
	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- c.Run(ctx, rec.handlers()) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-runErr, "Run returns nil when its context ends")
	})

	tenant := uuid.NewString()
	dao := invtest.DAO(t)
	createTenant(t, tenant)
	rec.waitTenant(t, tenant, inventory.Created)

	host := dao.CreateHostNoCleanup(t, tenant)
	got := rec.waitHost(t, host.GetUuid(), inventory.Created)
	require.Equal(t, inventory.HostID{Tenant: tenant, UUID: host.GetUuid(), ResourceID: host.GetResourceId()}, got.id)

	// The user enables vPro (API client, desired_amt_state).
	uctx, ucancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ucancel()
	_, err := invtest.APIClient(t).Update(uctx, tenant, host.GetResourceId(),
		&fieldmaskpb.FieldMask{Paths: []string{computev1.HostResourceFieldDesiredAmtState}},
		&inv_v1.Resource{Resource: &inv_v1.Resource_Host{Host: &computev1.HostResource{
			DesiredAmtState: computev1.AmtState_AMT_STATE_PROVISIONED,
		}}})
	require.NoError(t, err)
	rec.waitHost(t, host.GetUuid(), inventory.Updated)

	// Hard delete: soft delete (an update) then the RM's current_state DELETED removes it.
	dao.HardDeleteHost(t, tenant, host.GetResourceId())
	rec.waitHost(t, host.GetUuid(), inventory.Deleted)
}

func TestResyncListsDMHostsAndTenants(t *testing.T) {
	c := newClient(t)
	tenant := uuid.NewString()
	dao := invtest.DAO(t)
	createTenant(t, tenant)
	vpro := dao.CreateHost(t, tenant, func(h *computev1.HostResource) {
		h.DesiredAmtState = computev1.AmtState_AMT_STATE_PROVISIONED
	})
	plain := dao.CreateHost(t, tenant)

	rec := newRecorder()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, c.Resync(ctx, rec.handlers()))
	close(rec.hosts)
	close(rec.tenants)

	var hosts []string
	for r := range rec.hosts {
		require.Equal(t, inventory.Resync, r.cause)
		if r.id.Tenant == tenant {
			hosts = append(hosts, r.id.UUID)
		}
	}
	require.Contains(t, hosts, vpro.GetUuid())
	require.NotContains(t, hosts, plain.GetUuid(), "hosts without vPro intent or state are not resynced")

	var tenants []string
	for r := range rec.tenants {
		tenants = append(tenants, r.id.Tenant)
	}
	require.Contains(t, tenants, tenant)
}

func TestRunResyncsAtStart(t *testing.T) {
	tenant := uuid.NewString()
	createTenant(t, tenant)
	c := newClient(t)
	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, rec.handlers()) }()
	rec.waitTenant(t, tenant, inventory.Resync)
	cancel()
	require.NoError(t, <-done)
}

func TestRunReturnsNilAfterClose(t *testing.T) {
	tenant := uuid.NewString()
	createTenant(t, tenant)
	c := newClient(t)
	rec := newRecorder()
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background(), rec.handlers()) }()
	// Close once the first resync has listed: the client library reads its registration unlocked in List while
	// its stream handler clears it, a data race of the library's own (as in cmd/dm-manager
	// TestEventStreamClosedExitsNonZero).
	rec.waitTenant(t, tenant, inventory.Resync)
	c.Close()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after Close")
	}
}
