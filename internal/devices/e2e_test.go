package devices

import (
	"context"
	"encoding/base64"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/test/amtsim"
)

const gatewayName = "mps.test"

// recordingAuth reports every login outcome, so tests wait on a signal instead of a clock.
type recordingAuth struct {
	inner   ciragw.Authenticator
	results chan authResult
}

type authResult struct {
	guid string
	err  error
}

func (r *recordingAuth) Authenticate(ctx context.Context, guid, user, pass string) (string, error) {
	tenant, err := r.inner.Authenticate(ctx, guid, user, pass)
	select {
	case r.results <- authResult{guid, err}:
	default:
	}
	return tenant, err
}

// localAMT returns an AMT client on the device's local (LMS) port.
func localAMT(t *testing.T, d *amtsim.Device, user, pass string) *amt.Client {
	t.Helper()
	ws, err := wsman.New(wsman.Config{
		Dialer: wsman.DialerFunc(func(context.Context) (net.Conn, error) {
			ours, theirs := net.Pipe()
			go d.ServeLocal(theirs)
			return ours, nil
		}),
		Host: "127.0.0.1:16992", Username: user, Password: pass,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ws.Close() })
	return amt.New(ws)
}

// activate puts the simulated device in CCM with amtPassword, as RPS would.
func activate(t *testing.T, d *amtsim.Device, amtPassword string) {
	t.Helper()
	user, pass := d.LSA()
	require.NoError(t, localAMT(t, d, user, pass).Setup(t.Context(), amt.AdminPasswordHash(d.DigestRealm(), amtPassword)))
}

// configureCIRA gives the device the gateway's root, address and CIRA credentials, and a periodic policy, as the
// CIRA configuration step of activation does (protocol-cira-wsman §1.2).
func configureCIRA(t *testing.T, d *amtsim.Device, amtPassword string, rootDER []byte, port int, user, pass string) {
	t.Helper()
	ctx := t.Context()
	c := localAMT(t, d, "admin", amtPassword)
	_, err := c.AddTrustedRootCertificate(ctx, rootDER)
	require.NoError(t, err)
	sap, err := c.AddMpServer(ctx, amt.MPServer{AccessInfo: "127.0.0.1", InfoFormat: amt.MPSInfoFormatIPv4, Port: port,
		AuthMethod: amt.MPSAuthUserPass, Username: user, Password: pass, CN: gatewayName})
	require.NoError(t, err)
	_, err = c.AddRemoteAccessPolicyRule(ctx, amt.PolicyRule{Trigger: amt.TriggerPeriodic,
		ExtendedData: amt.PeriodicInterval(25), MpServerName: sap.Selector("Name")})
	require.NoError(t, err)
	require.True(t, d.State().CIRAConfigured)
}

// waitEvent waits for the device's next session event of kind.
func waitEvent(t *testing.T, events <-chan ciragw.Event, guid string, kind ciragw.EventKind) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.GUID == guid && ev.Kind == kind {
				return
			}
		case <-timeout:
			t.Fatalf("no %s event for %s", kind, guid)
		}
	}
}

// TestEndToEnd: devices imported with Import dial a real gateway wired with this package's Authenticator,
// PresenceWriter and CAStore; AMTClients reaches AMT through the tunnel; a wrong CIRA password is refused.
func TestEndToEnd(t *testing.T) {
	st, sec := backends(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)

	ca, err := ciragw.LoadOrCreateCA(ctx, NewCAStore(sec))
	require.NoError(t, err)
	again, err := ciragw.LoadOrCreateCA(ctx, NewCAStore(sec))
	require.NoError(t, err)
	require.Equal(t, ca.RootPEM(), again.RootPEM(), "the stored CA is reused")
	rootDER, err := base64.StdEncoding.DecodeString(ca.RootDERBase64())
	require.NoError(t, err)
	cert, err := ca.ServerCertificate(gatewayName)
	require.NoError(t, err)

	auth := &recordingAuth{inner: NewAuthenticator(st, sec, AuthOptions{}, log), results: make(chan authResult, 64)}
	gw, err := ciragw.New(ciragw.Config{
		Certificate: cert, Authenticator: auth, Logger: log,
		Presence:              NewPresenceWriter(st, "replica-a", "10.1.2.3:9000", log),
		PresenceFlushInterval: 20 * time.Millisecond,
	})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	wg.Go(func() { _ = gw.Serve(ctx, ln) })
	events, unsubscribe := gw.Subscribe()
	defer unsubscribe()
	watched, unwatch := gw.Subscribe()
	defer unwatch()
	clients := NewAMTClients(st, sec, gw, ClientOptions{Replica: "replica-a", RequestTimeout: 10 * time.Second}, log)
	defer clients.Close()
	wg.Go(func() { clients.Watch(ctx, watched) })

	// Two devices activated elsewhere, both with CIRA username "admin" as EMF configures them; the second was
	// configured with another CIRA password than the one imported.
	tenant := newTenant(t, st)
	good, bad := newImportDevice(tenant), newImportDevice(tenant)
	good.user, bad.user = "admin", "admin"
	var sims []*amtsim.Device
	for _, r := range []importDevice{good, bad} {
		d, err := amtsim.New(amtsim.Config{GUID: r.guid})
		require.NoError(t, err)
		activate(t, d, r.amtPass)
		ciraPass := r.ciraPass
		if r == bad {
			ciraPass = "NotTheImported1"
		}
		configureCIRA(t, d, r.amtPass, rootDER, port, r.user, ciraPass)
		sims = append(sims, d)
	}
	rep, err := NewImporter(st, sec, log).Import(ctx, strings.NewReader(csvFile(good, bad)), FormatCSV)
	require.NoError(t, err)
	require.Equal(t, 2, rep.Created)

	for _, d := range sims {
		wg.Go(func() {
			_ = d.RunCIRA(ctx, amtsim.CIRAOptions{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Log: log})
		})
	}
	waitEvent(t, events, good.guid, ciragw.Connected)
	for refused := false; !refused; {
		select {
		case res := <-auth.results:
			if res.guid == bad.guid {
				require.ErrorIs(t, res.err, ErrAuthFailed)
				refused = true
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the device with the wrong CIRA password never tried to log in")
		}
	}
	_, connected := gw.Session(bad.guid)
	require.False(t, connected, "a wrong CIRA password gets no session")

	c, err := clients.For(ctx, tenant, good.guid)
	require.NoError(t, err)
	ps, err := c.PowerState(ctx)
	require.NoError(t, err)
	require.Equal(t, amt.PowerOn, ps.PowerState)
	again2, err := clients.For(ctx, strings.ToUpper(tenant), strings.ToUpper(good.guid))
	require.NoError(t, err)
	require.Same(t, c, again2, "one client per device and session")

	_, err = clients.For(ctx, newTenant(t, st), good.guid)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = clients.For(ctx, tenant, bad.guid)
	require.ErrorIs(t, err, ErrNotConnected)

	presence := func(guid string) store.Device {
		d, err := st.GetDevice(ctx, guid)
		require.NoError(t, err)
		return d
	}
	// Presence is flushed on the gateway's timer: no event tells when the row is written.
	require.Eventually(t, func() bool { return presence(good.guid).ConnectionState == store.ConnectionConnected },
		10*time.Second, 10*time.Millisecond)
	d := presence(good.guid)
	require.Equal(t, "replica-a", d.OwnerReplica)
	require.Equal(t, "10.1.2.3:9000", d.OwnerAddress)
	require.Contains(t, d.RemoteAddress, "127.0.0.1:")
	require.Equal(t, store.ConnectionNever, presence(bad.guid).ConnectionState)

	// The device's network goes: calls fail as not connected, the store follows.
	sims[0].SetReachable(false)
	waitEvent(t, events, good.guid, ciragw.Disconnected)
	// The cached client either still holds the ended session's channel (Watch, on its own subscription, may not
	// have dropped it yet: "CIRA session closed") or opens a new one (ErrNotConnected); NoSession tells both.
	_, err = c.PowerState(ctx)
	require.True(t, NoSession(err), "%v", err)
	_, err = clients.For(ctx, tenant, good.guid)
	require.ErrorIs(t, err, ErrNotConnected)
	require.Eventually(t, func() bool { return presence(good.guid).ConnectionState == store.ConnectionDisconnected },
		10*time.Second, 10*time.Millisecond)

	// It comes back: a new session, a new client, and the cached login.
	sims[0].SetReachable(true)
	waitEvent(t, events, good.guid, ciragw.Connected)
	c2, err := clients.For(ctx, tenant, good.guid)
	require.NoError(t, err)
	require.NotSame(t, c, c2)
	ps, err = c2.PowerState(ctx)
	require.NoError(t, err)
	require.Equal(t, amt.PowerOn, ps.PowerState)
}
