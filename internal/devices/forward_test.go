package devices

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/internal/replica"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/test/amtsim"
)

const forwardSecret = "devices-test-replica-secret-0123"

// ownerRig is replica "owner": a real gateway with one connected, imported amtsim device and the replica API
// serving it on loopback; the store records the device as the owner's.
type ownerRig struct {
	st      *store.Store
	gw      *ciragw.Gateway
	tenant  string
	guid    string
	sim     *amtsim.Device
	address string // replica API
	local   *AMTClients
}

func startOwner(tb testing.TB) *ownerRig {
	st, sec := backends(tb)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	tb.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	log := zerolog.Nop()
	ca, err := ciragw.LoadOrCreateCA(ctx, NewCAStore(sec))
	require.NoError(tb, err)
	rootDER, err := base64.StdEncoding.DecodeString(ca.RootDERBase64())
	require.NoError(tb, err)
	cert, err := ca.ServerCertificate(gatewayName)
	require.NoError(tb, err)

	rl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	gw, err := ciragw.New(ciragw.Config{Certificate: cert, Authenticator: NewAuthenticator(st, sec, AuthOptions{}, log),
		Logger: log, Presence: NewPresenceWriter(st, "owner", rl.Addr().String(), log), PresenceFlushInterval: 20 * time.Millisecond})
	require.NoError(tb, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	wg.Go(func() { _ = gw.Serve(ctx, ln) })
	srv, err := replica.NewServer(gw, forwardSecret, log)
	require.NoError(tb, err)
	g := srv.GRPCServer()
	wg.Go(func() { _ = g.Serve(rl) })
	tb.Cleanup(g.Stop)
	events, unsubscribe := gw.Subscribe()
	tb.Cleanup(unsubscribe)

	tenant := newTenantTB(tb, st)
	r := newImportDevice(tenant)
	sim, err := amtsim.New(amtsim.Config{GUID: r.guid})
	require.NoError(tb, err)
	admin := simAMT(tb, sim, "")
	require.NoError(tb, admin.Setup(ctx, amt.AdminPasswordHash(sim.DigestRealm(), r.amtPass)))
	admin = simAMT(tb, sim, r.amtPass)
	_, err = admin.AddTrustedRootCertificate(ctx, rootDER)
	require.NoError(tb, err)
	sap, err := admin.AddMpServer(ctx, amt.MPServer{AccessInfo: "127.0.0.1", InfoFormat: amt.MPSInfoFormatIPv4,
		Port: ln.Addr().(*net.TCPAddr).Port, AuthMethod: amt.MPSAuthUserPass, Username: r.user, Password: r.ciraPass, CN: gatewayName})
	require.NoError(tb, err)
	_, err = admin.AddRemoteAccessPolicyRule(ctx, amt.PolicyRule{Trigger: amt.TriggerPeriodic,
		ExtendedData: amt.PeriodicInterval(25), MpServerName: sap.Selector("Name")})
	require.NoError(tb, err)
	rep, err := NewImporter(st, sec, log).Import(ctx, strings.NewReader(csvFile(r)), FormatCSV)
	require.NoError(tb, err, "%+v", rep.Errors)
	wg.Go(func() { _ = sim.RunCIRA(ctx, amtsim.CIRAOptions{MinBackoff: 20 * time.Millisecond, Log: log}) })
	for ev := range events {
		if ev.GUID == r.guid && ev.Kind == ciragw.Connected {
			break
		}
	}
	require.Eventually(tb, func() bool {
		d, err := st.GetDevice(ctx, r.guid)
		return err == nil && d.ConnectionState == store.ConnectionConnected
	}, 10*time.Second, 10*time.Millisecond)
	local := NewAMTClients(st, sec, gw, ClientOptions{Replica: "owner", RequestTimeout: 10 * time.Second}, log)
	tb.Cleanup(local.Close)
	return &ownerRig{st: st, gw: gw, tenant: tenant, guid: r.guid, sim: sim, address: rl.Addr().String(), local: local}
}

func newTenantTB(tb testing.TB, st *store.Store) string {
	id := uuid.NewString()
	_, err := st.UpsertTenant(context.Background(), store.Tenant{ID: id})
	require.NoError(tb, err)
	return id
}

// simAMT is an AMT client on the device's local port; an empty password means the LSA user.
func simAMT(tb testing.TB, d *amtsim.Device, adminPassword string) *amt.Client {
	user, pass := d.LSA()
	if adminPassword != "" {
		user, pass = "admin", adminPassword
	}
	ws, err := wsman.New(wsman.Config{Dialer: wsman.DialerFunc(func(context.Context) (net.Conn, error) {
		ours, theirs := net.Pipe()
		go d.ServeLocal(theirs)
		return ours, nil
	}), Host: "127.0.0.1:16992", Username: user, Password: pass})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = ws.Close() })
	return amt.New(ws)
}

// forwarding is replica "other": no session of its own, forwarding to the owner.
func forwarding(tb testing.TB, o *ownerRig) *AMTClients {
	_, sec := backends(tb)
	fwd, err := replica.NewClient(forwardSecret, nil)
	require.NoError(tb, err)
	tb.Cleanup(fwd.Close)
	c := NewAMTClients(o.st, sec, newPipeGateway(), ClientOptions{Replica: "other", RequestTimeout: 5 * time.Second,
		Forward: fwd}, zerolog.Nop())
	tb.Cleanup(c.Close)
	return c
}

// remoteActions counts the remote-control power actions AMT recorded in its audit log.
func remoteActions(d *amtsim.Device) int {
	n := 0
	for _, r := range d.AuditRecords() {
		if len(r) >= 2 && binary.BigEndian.Uint16(r) == 17 {
			n++
		}
	}
	return n
}

func TestForwardToOwner(t *testing.T) {
	o := startOwner(t)
	other := forwarding(t, o)
	ctx := t.Context()

	c, err := other.For(ctx, o.tenant, o.guid)
	require.NoError(t, err)
	gs, err := c.GeneralSettings(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, gs.DigestRealm)
	again, err := other.For(ctx, o.tenant, o.guid)
	require.NoError(t, err)
	require.Same(t, c, again, "one forwarding client per device and owner session")

	// A hard action through the owner reaches AMT exactly once.
	before := remoteActions(o.sim)
	require.NoError(t, c.RequestPowerStateChange(ctx, amt.PowerCycleOffSoft))
	require.Equal(t, before+1, remoteActions(o.sim))

	// The device leaves the owner: the next call is "not connected" (provably not sent), naming the move.
	o.sim.SetReachable(false)
	require.Eventually(t, func() bool { _, ok := o.gw.Session(o.guid); return !ok }, 10*time.Second, 10*time.Millisecond)
	before = remoteActions(o.sim)
	err = c.RequestPowerStateChange(ctx, amt.PowerCycleOffSoft)
	require.ErrorIs(t, err, ErrNotConnected)
	require.ErrorIs(t, err, replica.ErrMoved)
	require.Contains(t, err.Error(), "moved to another replica")
	require.True(t, strings.HasSuffix(err.Error(), "; retry"), err.Error())
	require.Equal(t, before, remoteActions(o.sim))
}

// BenchmarkWSManLatency: one WS-Man Get (AMT_GeneralSettings) over the owner's CIRA session, from the owner itself
// (local) and from another replica through the replica API (forwarded), on loopback. p50/p99 are reported.
func BenchmarkWSManLatency(b *testing.B) {
	o := startOwner(b)
	other := forwarding(b, o)
	ctx := context.Background()
	for _, bc := range []struct {
		name    string
		clients *AMTClients
	}{{"local", o.local}, {"forwarded", other}} {
		b.Run(bc.name, func(b *testing.B) {
			c, err := bc.clients.For(ctx, o.tenant, o.guid)
			require.NoError(b, err)
			_, err = c.GeneralSettings(ctx) // digest challenge
			require.NoError(b, err)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				if _, err := c.GeneralSettings(ctx); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
