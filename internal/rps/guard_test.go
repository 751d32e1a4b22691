package rps_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/metrics"
	"github.com/dmrm/dm-manager/internal/rps"
	"github.com/dmrm/dm-manager/internal/testlog"
	"github.com/dmrm/dm-manager/test/amtsim"
)

// lookups counts Inventory lookups and panics once for one GUID, as a bug in the lookup might.
type lookups struct {
	rps.HostLookup
	n       atomic.Int32
	panicOn atomic.Value // string
}

func (l *lookups) Get(ctx context.Context, tenant, id string) (rps.Host, error) {
	l.n.Add(1)
	if g, _ := l.panicOn.Load().(string); g == id && l.panicOn.CompareAndSwap(g, "") {
		panic("injected: lookup bug")
	}
	return l.HostLookup.Get(ctx, tenant, id)
}

func panicsRecovered(t *testing.T) float64 {
	t.Helper()
	mfs, err := metrics.NewRegistry().Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == "dm_manager_panics_recovered_total" && m.GetLabel()[0].GetValue() == "websocket" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestPanicCostsOneSession(t *testing.T) {
	var l *lookups
	e := newEnv(t, func(c *rps.Config) {
		l = &lookups{HostLookup: c.Hosts}
		c.Hosts = l
	})
	tenant := newTenant(t, "static")
	d1, d2 := e.newDevice(t, tenant, amtsim.Config{}), e.newDevice(t, tenant, amtsim.Config{})
	l.panicOn.Store(d1.GUID().String())
	before := panicsRecovered(t)

	res := e.run(t, d1, activate(tenant+"_ccm"))
	require.False(t, res.OK())
	require.Contains(t, res.Message, "failed internally")
	require.Equal(t, before+1, panicsRecovered(t))

	require.True(t, e.run(t, d2, activate(tenant+"_ccm")).OK(), "other devices are served")
	require.True(t, e.run(t, d1, activate(tenant+"_ccm")).OK(), "the device was released: its retry succeeds")
}

// dialFrom opens the activation websocket from a loopback source address; it returns the HTTP status when the
// upgrade is refused.
func dialFrom(t *testing.T, url, src string) (*websocket.Conn, int) {
	t.Helper()
	d := websocket.Dialer{NetDialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}).DialContext,
		HandshakeTimeout: 10 * time.Second}
	ws, resp, err := d.Dial(url, nil)
	if err != nil {
		require.NotNil(t, resp, "%v", err)
		_ = resp.Body.Close()
		return nil, resp.StatusCode
	}
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = ws.Close() })
	return ws, http.StatusSwitchingProtocols
}

func TestWaitingForFirstMessageCapped(t *testing.T) {
	e := newEnv(t, func(c *rps.Config) {
		c.MaxWaitingFirst, c.MaxWaitingFirstPerIP = 3, 2
		c.FirstMessageTimeout = time.Minute // the caps, not the deadline, are under test
	})
	a1, code := dialFrom(t, e.url, "127.0.0.1")
	require.Equal(t, http.StatusSwitchingProtocols, code)
	_, code = dialFrom(t, e.url, "127.0.0.1")
	require.Equal(t, http.StatusSwitchingProtocols, code)
	_, code = dialFrom(t, e.url, "127.0.0.1")
	require.Equal(t, http.StatusServiceUnavailable, code, "per-source cap")
	_, code = dialFrom(t, e.url, "127.0.0.2")
	require.Equal(t, http.StatusSwitchingProtocols, code)
	_, code = dialFrom(t, e.url, "127.0.0.3")
	require.Equal(t, http.StatusServiceUnavailable, code, "global cap")

	// A first message gives the place back, whatever the message.
	p := &peer{t: t, ws: a1}
	p.send(message("frobnicate", encodePayload(t, validPayload(uuid.NewString())), ""))
	p.terminal()
	require.Eventually(t, func() bool {
		ws, code := dialFrom(t, e.url, "127.0.0.3")
		if ws != nil {
			_ = ws.Close()
		}
		return code == http.StatusSwitchingProtocols
	}, 10*time.Second, 10*time.Millisecond)
}

func TestFirstMessageDeadlineFreesPlaces(t *testing.T) {
	e := newEnv(t, func(c *rps.Config) {
		c.MaxWaitingFirst, c.MaxWaitingFirstPerIP = 1, 1
		c.FirstMessageTimeout = 200 * time.Millisecond
	})
	idle, code := dialFrom(t, e.url, "127.0.0.4")
	require.Equal(t, http.StatusSwitchingProtocols, code)
	_, code = dialFrom(t, e.url, "127.0.0.5")
	require.Equal(t, http.StatusServiceUnavailable, code)
	p := &peer{t: t, ws: idle}
	require.Equal(t, "error", p.terminal().Method, "the silent socket is ended at the deadline")
	require.Eventually(t, func() bool {
		ws, code := dialFrom(t, e.url, "127.0.0.5")
		if ws != nil {
			_ = ws.Close()
		}
		return code == http.StatusSwitchingProtocols
	}, 10*time.Second, 10*time.Millisecond)
}

// An activation for a host no tenant has registered, with a guessed tenant's profile name and no token: one
// Inventory lookup, no host reconcile asked for, one info line and no warning or error; a flood of them is logged
// at most refusalLogBurst (10) times a minute.
func TestUnknownHostCostsOneLookup(t *testing.T) {
	var l *lookups
	logs := &testlog.Buffer{}
	e := newEnv(t, func(c *rps.Config) {
		l = &lookups{HostLookup: c.Hosts}
		c.Hosts = l
		c.Log = zerolog.New(logs)
	})
	tenant := newTenant(t, "static")
	const n = 15
	for range n {
		p := dial(t, e.url, nil)
		p.send(message("activate --profile "+tenant+"_ccm", encodePayload(t, validPayload(uuid.NewString())), ""))
		require.Contains(t, p.terminal().Message, "No host with this UUID is registered")
	}
	e.eng.Close() // every session has finished
	require.Equal(t, int32(n), l.n.Load(), "one lookup per message")
	for len(e.out) > 0 {
		require.False(t, (<-e.out).Known, "an unknown device: no host reconcile")
	}
	out := logs.String()
	require.NotContains(t, out, `"level":"warn"`)
	require.NotContains(t, out, `"level":"error"`)
	ended := strings.Count(out, "rpc session ended")
	require.Equal(t, 10, ended, "rate-limited:\n%s", out)
	require.Equal(t, float64(n), counter(t, e.reg, "dm_manager_rps_outcomes_total", "activate", "refused"), "all counted")
}

// A panic in a session's websocket reader or pinger (the goroutines that handle rpc-go's bytes besides the flow)
// ends that session with the internal-error answer; the engine serves the next device.
func TestReaderAndPingerPanicsCostOneSession(t *testing.T) {
	for _, where := range []string{"read", "ping"} {
		t.Run(where, func(t *testing.T) {
			e := newEnv(t, func(c *rps.Config) { c.PingInterval = 20 * time.Millisecond })
			tenant := newTenant(t, "static")
			var armed atomic.Bool
			armed.Store(true)
			rps.SetTestHook(t, func(w string) {
				if w == where && armed.CompareAndSwap(true, false) {
					panic("injected: " + where + " bug")
				}
			})
			before := panicsRecovered(t)

			p := dial(t, e.url, nil)
			if where == "read" {
				p.send(message("activate", encodePayload(t, validPayload(uuid.NewString())), tenant))
			} // else: the session waits for its first message while the pinger runs
			m := p.terminal()
			require.Equal(t, "error", m.Method)
			require.Contains(t, m.Message, "failed internally")
			require.Equal(t, before+1, panicsRecovered(t))

			d := e.newDevice(t, tenant, amtsim.Config{})
			require.True(t, e.run(t, d, activate(tenant+"_ccm")).OK(), "the next device is served")
		})
	}
}
