package conformance

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/dmrm/dm-manager/dmtclient"
	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
	"github.com/dmrm/dm-manager/test/amtsim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// adminPassword is the AMT password the tests activate with (meets the §2.2 rule).
const adminPassword = "Conf0rm@nce!"

// wireStats counts what crossed one listener.
type wireStats struct {
	Conns        int64 // accepted connections
	Requests     int64 // HTTP requests received
	Authorized   int64 // requests that carried an Authorization header
	Unauthorized int64 // 401 answers
}

// countingListener wraps a TCP listener and counts, per side, what the client sent and the device answered. The
// simulator writes each response with one Write call, so a Write that starts with a status line is one response.
type countingListener struct {
	net.Listener
	conns, requests, authorized, unauthorized atomic.Int64

	mu      sync.Mutex
	lastOK  []byte       // the last 200 response, raw, to inspect its chunking
	inbound bytes.Buffer // everything clients sent, all connections in arrival order

	closed chan struct{} // one value per connection the device side closed
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.conns.Add(1)
	return &countingConn{Conn: c, l: l}, nil
}

func (l *countingListener) stats() wireStats {
	return wireStats{
		Conns: l.conns.Load(), Requests: l.requests.Load(),
		Authorized: l.authorized.Load(), Unauthorized: l.unauthorized.Load(),
	}
}

func (l *countingListener) received() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.inbound.Bytes()...)
}

func (l *countingListener) lastResponse() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.lastOK...)
}

var (
	patRequest = []byte("POST /wsman HTTP/1.1\r\n")
	patAuth    = []byte("\r\nAuthorization: Digest ")
)

// countingConn is the device side of one connection.
type countingConn struct {
	net.Conn
	l     *countingListener
	tail  []byte // last bytes read, so that a pattern split across reads is still seen
	close sync.Once
}

func (c *countingConn) Close() error {
	c.close.Do(func() {
		select {
		case c.l.closed <- struct{}{}:
		default: // nobody waits for closes in this test
		}
	})
	return c.Conn.Close()
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		buf := append(c.tail, p[:n]...)
		c.l.requests.Add(int64(bytes.Count(buf, patRequest)))
		c.l.authorized.Add(int64(bytes.Count(buf, patAuth)))
		keep := max(len(patRequest), len(patAuth)) - 1
		c.tail = append(c.tail[:0], buf[max(0, len(buf)-keep):]...)
		c.l.mu.Lock()
		c.l.inbound.Write(p[:n])
		c.l.mu.Unlock()
	}
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	switch {
	case bytes.HasPrefix(p, []byte("HTTP/1.1 401 ")):
		c.l.unauthorized.Add(1)
	case bytes.HasPrefix(p, []byte("HTTP/1.1 200 ")):
		c.l.mu.Lock()
		c.l.lastOK = append(c.l.lastOK[:0], p...)
		c.l.mu.Unlock()
	}
	return c.Conn.Write(p)
}

// rig is one simulated device served on two loopback listeners.
type rig struct {
	t      testing.TB
	dev    *amtsim.Device
	net    *countingListener // network side (CIRA/MPS view)
	local  *countingListener // host side (LMS, what rpc-go relays to)
	hist   *history
	pki    *certtest.PKI
	clock  *fakeClock
	passwd string // current admin password once activated
}

// rigOption adjusts the simulator configuration.
type rigOption func(*amtsim.Config)

func withSeed(seed uint64) rigOption { return func(c *amtsim.Config) { c.Seed = seed } }

func newRig(t testing.TB, opts ...rigOption) *rig {
	t.Helper()
	r := &rig{t: t, hist: &history{}, clock: &fakeClock{base: time.Now()}, pki: certtest.New(t)}
	cfg := amtsim.Config{
		Hostname: "conformance-host", DNSSuffix: certtest.Suffix,
		PowerDelay: 2 * time.Millisecond, OSBootDelay: 2 * time.Millisecond, OSShutdownDelay: 2 * time.Millisecond,
		Clock: r.clock.Now, OnChange: r.hist.record,
	}
	for _, o := range opts {
		o(&cfg)
	}
	dev, err := amtsim.New(cfg)
	require.NoError(t, err)
	dev.AddRootHash(amtsim.NewRootHash("conformance root", r.pki.Root.Raw))
	r.dev = dev
	r.net = r.listen(false)
	r.local = r.listen(true)
	return r
}

func (r *rig) listen(local bool) *countingListener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(r.t, err)
	cl := &countingListener{Listener: l, closed: make(chan struct{}, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := r.dev.Listen(cl, local)
		if !errors.Is(err, net.ErrClosed) {
			r.t.Errorf("amtsim listener stopped: %v", err)
		}
	}()
	r.t.Cleanup(func() {
		_ = l.Close()
		<-done
	})
	return cl
}

// wsClient makes a WS-Man client for one side of the device.
func (r *rig) wsClient(local bool, user, password string, mutate ...func(*wsman.Config)) *wsman.Client {
	r.t.Helper()
	l := r.net
	if local {
		l = r.local
	}
	addr := l.Addr().(*net.TCPAddr)
	d := dmtclient.TCPDialer{Host: addr.IP.String(), Port: addr.Port, Timeout: 5 * time.Second}
	cfg := wsman.Config{Dialer: d, Host: d.Address(), Username: user, Password: password, Timeout: 10 * time.Second}
	for _, m := range mutate {
		m(&cfg)
	}
	ws, err := wsman.New(cfg)
	require.NoError(r.t, err)
	r.t.Cleanup(func() { _ = ws.Close() })
	return ws
}

func (r *rig) client(local bool, user, password string, mutate ...func(*wsman.Config)) *amt.Client {
	return amt.New(r.wsClient(local, user, password, mutate...))
}

// lsaClient is rpc-go's view during activation: host side, local system account (protocol-rps-activation §2.1).
func (r *rig) lsaClient() *amt.Client {
	user, pw := r.dev.LSA()
	return r.client(true, user, pw)
}

// admin is the admin account on the network side (MPS over CIRA), or the host side when local.
func (r *rig) admin(local bool) *amt.Client {
	require.NotEmpty(r.t, r.passwd, "device not activated")
	return r.client(local, "admin", r.passwd)
}

// activateCCM runs RPS's CCM steps (§2.3: GET_GENERAL_SETTINGS, CHECK_DIGEST_REALM, SETUP) over the host side.
func (r *rig) activateCCM(ctx context.Context) {
	r.t.Helper()
	c := r.lsaClient()
	gs, err := c.GeneralSettings(ctx)
	require.NoError(r.t, err)
	require.True(r.t, amt.ValidDigestRealm(gs.DigestRealm), gs.DigestRealm)
	require.NoError(r.t, c.Setup(ctx, amt.AdminPasswordHash(gs.DigestRealm, adminPassword)))
	r.passwd = adminPassword
	require.Equal(r.t, amtsim.ClientControl, r.dev.Mode())
}

// sendChain sends the provisioning chain leaf, intermediate, root with the §2.4 step 6 flags.
func sendChain(ctx context.Context, t testing.TB, c *amt.Client, pki *certtest.PKI) {
	t.Helper()
	require.NoError(t, c.AddNextCertInChain(ctx, pki.Leaf.Raw, true, false))
	require.NoError(t, c.AddNextCertInChain(ctx, pki.Intermediate.Raw, false, false))
	require.NoError(t, c.AddNextCertInChain(ctx, pki.Root.Raw, false, true))
}

// activateACM runs RPS's ACM steps (§2.4: realm, HBS Get, AddNextCertInChain×3, AdminSetup) over the host side.
func (r *rig) activateACM(ctx context.Context) {
	r.t.Helper()
	c := r.lsaClient()
	gs, err := c.GeneralSettings(ctx)
	require.NoError(r.t, err)
	hbs, err := c.HostBasedSetupService(ctx)
	require.NoError(r.t, err)
	fw, err := hbs.FirmwareNonce()
	require.NoError(r.t, err)
	sendChain(ctx, r.t, c, r.pki)
	mc, err := amt.NewMcNonce()
	require.NoError(r.t, err)
	sig, err := amt.SignNonces(r.pki.LeafKey, fw, mc)
	require.NoError(r.t, err)
	require.NoError(r.t, c.AdminSetup(ctx, amt.AdminSetupRequest{
		PasswordHash: amt.AdminPasswordHash(gs.DigestRealm, adminPassword), McNonce: mc, Signature: sig,
	}))
	r.passwd = adminPassword
	require.Equal(r.t, amtsim.AdminControl, r.dev.Mode())
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fakeClock is the simulator's clock, moved forward to expire nonces.
type fakeClock struct {
	base time.Time
	skew atomic.Int64
}

func (c *fakeClock) Now() time.Time {
	return c.base.Add(time.Since(c.base) + time.Duration(c.skew.Load()))
}
func (c *fakeClock) Advance(d time.Duration) { c.skew.Add(int64(d)) }

// history records every state the simulator announces, so that short transitions (a reset's OS-down moment)
// cannot be missed between two polls.
type history struct {
	mu     sync.Mutex
	states []amtsim.State
	wake   chan struct{}
}

func (h *history) record(_ *amtsim.Device, s amtsim.State) {
	h.mu.Lock()
	h.states = append(h.states, s)
	w := h.wake
	h.wake = nil
	h.mu.Unlock()
	if w != nil {
		close(w)
	}
}

// mark is the position from which a later await looks.
func (h *history) mark() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.states)
}

// await waits until the states recorded after from contain, in order, one state matching each step.
func (h *history) await(ctx context.Context, t *testing.T, from int, steps ...func(amtsim.State) bool) {
	t.Helper()
	for {
		h.mu.Lock()
		next := 0
		for _, s := range h.states[from:] {
			if next < len(steps) && steps[next](s) {
				next++
			}
		}
		if h.wake == nil {
			h.wake = make(chan struct{})
		}
		w := h.wake
		h.mu.Unlock()
		if next == len(steps) {
			return
		}
		select {
		case <-w:
		case <-ctx.Done():
			t.Fatalf("device did not pass through %d expected states (matched %d): %v", len(steps), next, ctx.Err())
		}
	}
}

// since returns the states recorded after from.
func (h *history) since(from int) []amtsim.State {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]amtsim.State(nil), h.states[from:]...)
}
