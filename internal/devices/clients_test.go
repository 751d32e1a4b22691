package devices

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/internal/testdb"
	"github.com/dmrm/dm-manager/test/amtsim"
)

// pipeGateway stands in for the gateway's registry: sessions are set by the test, channels are pipes served
// by simulated devices.
type pipeGateway struct {
	mu       sync.Mutex
	sessions map[string]ciragw.SessionInfo
	devices  map[string]*amtsim.Device
}

func newPipeGateway() *pipeGateway {
	return &pipeGateway{sessions: map[string]ciragw.SessionInfo{}, devices: map[string]*amtsim.Device{}}
}

func (g *pipeGateway) connect(guid, tenant string, d *amtsim.Device) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sessions[guid] = ciragw.SessionInfo{GUID: guid, Tenant: tenant, ConnectedAt: time.Now()}
	g.devices[guid] = d
}

func (g *pipeGateway) disconnect(guid string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.sessions, guid)
}

func (g *pipeGateway) Session(guid string) (ciragw.SessionInfo, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.sessions[guid]
	return s, ok
}

func (g *pipeGateway) OpenChannel(_ context.Context, guid string, _ uint16) (net.Conn, error) {
	g.mu.Lock()
	_, ok := g.sessions[guid]
	d := g.devices[guid]
	g.mu.Unlock()
	if !ok {
		return nil, ciragw.ErrDeviceNotConnected
	}
	ours, theirs := net.Pipe()
	go d.ServeConn(theirs)
	return ours, nil
}

func TestAMTClientsFor(t *testing.T) {
	st, sec := backends(t)
	ctx := context.Background()
	tenant, otherTenant := newTenant(t, st), newTenant(t, st)
	dev := recordDevice(t, st, sec, tenant)
	sim, err := amtsim.New(amtsim.Config{GUID: dev.guid})
	require.NoError(t, err)
	activate(t, sim, dev.amtPassword)

	gw := newPipeGateway()
	clients := NewAMTClients(st, sec, gw, ClientOptions{Replica: "replica-a"}, zerolog.Nop())
	defer clients.Close()

	// Not this tenant's device, or no device at all: the same answer.
	for _, tc := range []struct{ tenant, guid string }{
		{otherTenant, dev.guid}, {tenant, uuid.NewString()}, {tenant, "not-a-guid"},
	} {
		_, err := clients.For(ctx, tc.tenant, tc.guid)
		require.ErrorIs(t, err, ErrNotFound)
	}

	// Recorded but not connected here; the store says whether another replica holds it.
	_, err = clients.For(ctx, tenant, dev.guid)
	var nc *NotConnectedError
	require.ErrorAs(t, err, &nc)
	require.ErrorIs(t, err, ErrNotConnected)
	require.Empty(t, nc.OwnerReplica)
	_, err = st.ApplyPresence(ctx, []store.Presence{{GUID: dev.guid, TenantID: tenant, State: store.ConnectionConnected,
		At: time.Now(), OwnerReplica: "replica-b", OwnerAddress: "10.0.0.2:9000"}})
	require.NoError(t, err)
	_, err = clients.For(ctx, tenant, dev.guid)
	require.ErrorAs(t, err, &nc)
	require.Equal(t, "replica-b", nc.OwnerReplica)
	require.Contains(t, err.Error(), "replica replica-b (10.0.0.2:9000) holds its session")

	// A session claiming another tenant than the store's is not used.
	gw.connect(dev.guid, otherTenant, sim)
	_, err = clients.For(ctx, tenant, dev.guid)
	require.ErrorIs(t, err, ErrNotConnected)
	_, err = clients.For(ctx, otherTenant, dev.guid)
	require.ErrorIs(t, err, ErrNotFound)

	// Connected: one client per session, reused; a new session gets a new client.
	gw.connect(dev.guid, tenant, sim)
	c1, err := clients.For(ctx, tenant, dev.guid)
	require.NoError(t, err)
	_, err = c1.PowerState(ctx)
	require.NoError(t, err)
	c2, err := clients.For(ctx, tenant, dev.guid)
	require.NoError(t, err)
	require.Same(t, c1, c2)
	gw.connect(dev.guid, tenant, sim)
	c3, err := clients.For(ctx, tenant, dev.guid)
	require.NoError(t, err)
	require.NotSame(t, c1, c3)

	// Forget drops it; a call on a client whose session is gone is "not connected".
	clients.Forget(dev.guid)
	c4, err := clients.For(ctx, tenant, dev.guid)
	require.NoError(t, err)
	require.NotSame(t, c3, c4)
	gw.disconnect(dev.guid)
	_, err = c4.PowerState(ctx)
	require.ErrorIs(t, err, ErrNotConnected)

	// Watch drops clients on Disconnected events.
	gw.connect(dev.guid, tenant, sim)
	_, err = clients.For(ctx, tenant, dev.guid)
	require.NoError(t, err)
	events := make(chan ciragw.Event, 2)
	events <- ciragw.Event{GUID: dev.guid, Tenant: tenant, Kind: ciragw.Connected}
	events <- ciragw.Event{GUID: dev.guid, Tenant: tenant, Kind: ciragw.Disconnected}
	close(events)
	clients.Watch(ctx, events)
	clients.mu.Lock()
	require.NotContains(t, clients.clients, dev.guid)
	clients.mu.Unlock()

	// No AMT password stored.
	path, err := secrets.Device(tenant, dev.guid)
	require.NoError(t, err)
	require.NoError(t, sec.Put(ctx, path, map[string]string{secrets.KeyCIRAPassword: "only-cira"}))
	_, err = clients.For(ctx, tenant, dev.guid)
	require.ErrorIs(t, err, ErrNoCredentials)
	require.NoError(t, sec.Delete(ctx, path))
	_, err = clients.For(ctx, tenant, dev.guid)
	require.ErrorIs(t, err, ErrNoCredentials)
	require.NotContains(t, err.Error(), dev.amtPassword)
}

// A session here under the request's tenant was authenticated as that tenant's device, so a new client needs only
// the device's secret, not its record: For works with the device store closed, and only a device not connected
// here (whose record says who holds it) needs the store.
func TestAMTClientsForLocalSessionSkipsTheDeviceRecord(t *testing.T) {
	st, sec := backends(t)
	ctx := context.Background()
	tenant := newTenant(t, st)
	dev := recordDevice(t, st, sec, tenant)
	sim, err := amtsim.New(amtsim.Config{GUID: dev.guid})
	require.NoError(t, err)
	activate(t, sim, dev.amtPassword)

	records := testdb.Open(t, testDSN)
	records.Close()
	gw := newPipeGateway()
	clients := NewAMTClients(records, sec, gw, ClientOptions{Replica: "replica-a"}, zerolog.Nop())
	defer clients.Close()

	gw.connect(dev.guid, tenant, sim)
	c, err := clients.For(ctx, tenant, dev.guid)
	require.NoError(t, err)
	_, err = c.PowerState(ctx)
	require.NoError(t, err)

	gw.disconnect(dev.guid)
	_, err = clients.For(ctx, tenant, dev.guid)
	require.ErrorContains(t, err, "looking up device")
}

// A change of the admin password whose outcome was lost leaves the new password stored with the old one
// (internal/rps): whichever AMT has, power and REST calls reach the device.
func TestAMTClientsPasswordChangeUnderWay(t *testing.T) {
	st, sec := backends(t)
	ctx := context.Background()
	tenant := newTenant(t, st)
	gw := newPipeGateway()
	clients := NewAMTClients(st, sec, gw, ClientOptions{Replica: "replica-a"}, zerolog.Nop())
	defer clients.Close()
	for _, amtHas := range []string{"old", "new"} {
		t.Run("AMT has the "+amtHas+" one", func(t *testing.T) {
			dev := recordDevice(t, st, sec, tenant)
			sim, err := amtsim.New(amtsim.Config{GUID: dev.guid})
			require.NoError(t, err)
			const newPassword = "N3w-P4ss-word!"
			if amtHas == "old" {
				activate(t, sim, dev.amtPassword)
			} else {
				activate(t, sim, newPassword)
			}
			path, err := secrets.Device(tenant, dev.guid)
			require.NoError(t, err)
			require.NoError(t, sec.Put(ctx, path, map[string]string{secrets.KeyCIRAUsername: dev.username,
				secrets.KeyCIRAPassword: dev.ciraPassword, secrets.KeyAMTPassword: newPassword,
				secrets.KeyPreviousAMTPassword: dev.amtPassword}))
			gw.connect(dev.guid, tenant, sim)
			c, err := clients.For(ctx, tenant, dev.guid)
			require.NoError(t, err)
			for range 2 {
				_, err = c.PowerState(ctx)
				require.NoError(t, err)
			}
		})
	}
}
