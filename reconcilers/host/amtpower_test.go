package host

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient"
	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/test/amtsim"
)

const simPassword = "P@ssw0rd-1"

// simDeviceOverTCP starts a simulated AMT with WS-Man on loopback (remote and local ports), activates it in CCM the
// way the RPS engine does, and returns an AMTPower reaching it as admin.
func simDeviceOverTCP(t *testing.T) (*amtsim.Device, AMTPower) {
	t.Helper()
	ctx := context.Background()
	d, err := amtsim.New(amtsim.Config{PowerDelay: 5 * time.Millisecond, OSBootDelay: 5 * time.Millisecond,
		OSShutdownDelay: 5 * time.Millisecond, Log: zerolog.Nop()})
	require.NoError(t, err)
	listen := func(local bool) dmtclient.TCPDialer {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { _ = ln.Close() })
		go func() { _ = d.Listen(ln, local) }()
		addr := ln.Addr().(*net.TCPAddr)
		return dmtclient.TCPDialer{Host: addr.IP.String(), Port: addr.Port}
	}
	client := func(dialer dmtclient.TCPDialer, user, pw string) *amt.Client {
		ws, err := wsman.New(wsman.Config{Dialer: dialer, Host: dialer.Address(), Username: user, Password: pw})
		require.NoError(t, err)
		t.Cleanup(func() { _ = ws.Close() })
		return amt.New(ws)
	}
	lsaUser, lsaPassword := d.LSA()
	local := client(listen(true), lsaUser, lsaPassword)
	gs, err := local.GeneralSettings(ctx)
	require.NoError(t, err)
	require.NoError(t, local.Setup(ctx, amt.AdminPasswordHash(gs.DigestRealm, simPassword)))
	admin := client(listen(false), "admin", simPassword)
	return d, AMTPower{Clients: func(context.Context, string, string) (*amt.Client, error) { return admin, nil }}
}

// AMTPower against the simulated firmware: reads, actions, AMT's refusals classified as Refused, and errors
// before any request classified as NotSent.
func TestAMTPowerAgainstSimulatedAMT(t *testing.T) {
	ctx := context.Background()
	d, p := simDeviceOverTCP(t)
	const tenant, guid = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"

	ps, err := p.GetPowerState(ctx, tenant, guid)
	require.NoError(t, err)
	require.Equal(t, amt.PowerOn, ps)

	require.NoError(t, p.RequestPowerStateChange(ctx, tenant, guid, amt.PowerOffSoft))
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = d.WaitFor(wctx, func(s amtsim.State) bool { return s.PowerState == amtsim.PowerOff })
	require.NoError(t, err)

	err = p.RequestPowerStateChange(ctx, tenant, guid, amt.MasterBusReset) // a reset needs a running host
	require.Equal(t, Outcome{Kind: Refused, Reason: "NOT_READY"}, Classify(err))

	require.NoError(t, p.Unprovision(ctx, tenant, guid))

	noClient := AMTPower{Clients: func(context.Context, string, string) (*amt.Client, error) {
		return nil, errors.New("no AMT credentials stored for the device")
	}}
	require.Equal(t, NotSent, Classify(noClient.Unprovision(ctx, tenant, guid)).Kind)
}

// A request the client could not even connect for was never written: NotSent, with no hook in between.
func TestAMTPowerConnectFailureNotSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().(*net.TCPAddr)
	require.NoError(t, ln.Close()) // nothing listens: connecting fails before any request
	ws, err := wsman.New(wsman.Config{Dialer: dmtclient.TCPDialer{Host: addr.IP.String(), Port: addr.Port},
		Host: "x:16992", Username: "admin", Password: simPassword})
	require.NoError(t, err)
	defer ws.Close()
	p := AMTPower{
		Clients: func(context.Context, string, string) (*amt.Client, error) { return amt.New(ws), nil },
	}
	_, err = p.GetPowerState(context.Background(), "t", "g")
	require.ErrorContains(t, err, "connect to AMT")
	require.Equal(t, NotSent, Classify(err).Kind)
}

// The reconciler end to end against the simulated firmware with a hung OS: ORDERED off asks the OS, times out,
// forces the hard off once, and reports it.
func TestReconcilerAgainstSimulatedAMT(t *testing.T) {
	d, p := simDeviceOverTCP(t)
	d.SetOSHung(true)
	w := newWorld(provisionedHost(psOff, ordered))
	w.notify = make(chan string, 100)
	deps := w.deps()
	deps.Power = p
	params := testParams
	params.SoftOffTimeout, params.StateCheckInterval, params.ActionSettle = 300*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond
	r, err := New(Config{Params: params, Log: zerolog.Nop()}, deps)
	require.NoError(t, err)
	t.Cleanup(r.Stop)
	r.Enqueue(w.host.GetTenantId(), w.host.GetUuid())
	waitFor(t, w.notify, `"Soft power off timed out after 300ms, forcing hard power off"`)
	waitFor(t, w.notify, `power POWER_STATE_OFF "Powered off"`) // reported once AMT accepted the hard off
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = d.WaitFor(ctx, func(s amtsim.State) bool { return s.PowerState == amtsim.PowerOff })
	require.NoError(t, err)
}
