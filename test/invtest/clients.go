package invtest

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	inv_v1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/inventory/v1"
	"github.com/open-edge-platform/infra-core/inventory/v2/pkg/client"
	inv_testing "github.com/open-edge-platform/infra-core/inventory/v2/pkg/testing"

	"github.com/dmrm/dm-manager/internal/inventory/heartbeat"
)

// Address is the InventoryClientConfig.Address that makes Inventory's client dial the in-process server; pair it
// with DialOptions.
const Address = "bufconn"

// eventsBuffer matches the buffer of Inventory's own test clients.
const eventsBuffer = 128

// APIClient is the test client of kind CLIENT_KIND_API (the northbound writer: desired state).
func APIClient(tb testing.TB) client.TenantAwareInventoryClient {
	tb.Helper()
	return testClient(tb, inv_testing.APIClient)
}

// RMClient is the test client of kind CLIENT_KIND_RESOURCE_MANAGER (current state and status).
func RMClient(tb testing.TB) client.TenantAwareInventoryClient {
	tb.Helper()
	return testClient(tb, inv_testing.RMClient)
}

// TCClient is the test client of kind CLIENT_KIND_TENANT_CONTROLLER (tenants).
func TCClient(tb testing.TB) client.TenantAwareInventoryClient {
	tb.Helper()
	return testClient(tb, inv_testing.TCClient)
}

// DAO returns Inventory's resource helpers (CreateHost, CreateTenantWithOpts, HardDeleteHost, the clients'
// event channels, ...) bound to the test clients.
func DAO(tb testing.TB) *inv_testing.InvResourceDAO {
	tb.Helper()
	requireStarted(tb)
	return inv_testing.NewInvResourceDAOOrFail(tb)
}

// DialOptions reach the in-process server over bufconn; use with Address in a client.InventoryClientConfig.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) {
			return inv_testing.BufconnLis.Dial()
		}),
	}
}

// NewClient registers a client of its own with the in-process server, subscribed to kinds, and closes it when
// the test ends. Use it where code under test needs its own client and events channel, as production has.
func NewClient(tb testing.TB, name string, kind inv_v1.ClientKind, kinds ...inv_v1.ResourceKind,
) (client.TenantAwareInventoryClient, chan *client.WatchEvents) {
	tb.Helper()
	requireStarted(tb)
	if err := heartbeat.Check(); err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	events := make(chan *client.WatchEvents, eventsBuffer)
	c, err := client.NewTenantAwareInventoryClient(context.Background(), client.InventoryClientConfig{
		Name:          name,
		Address:       Address,
		DialOptions:   DialOptions(),
		SecurityCfg:   &client.SecurityConfig{Insecure: true},
		Events:        events,
		ClientKind:    kind,
		ResourceKinds: kinds,
		Wg:            &wg,
	})
	require.NoError(tb, err, "register Inventory client %q", name)
	tb.Cleanup(func() {
		_ = c.Close()
		wg.Wait()
	})
	return c, events
}

func testClient(tb testing.TB, ct inv_testing.ClientType) client.TenantAwareInventoryClient {
	tb.Helper()
	requireStarted(tb)
	return inv_testing.GetClient(tb, ct).GetTenantAwareInventoryClient()
}

func requireStarted(tb testing.TB) {
	tb.Helper()
	if !started {
		tb.Fatal("invtest: Inventory is not running; add `func TestMain(m *testing.M) { invtest.Main(m) }`")
	}
}
