package ciragw

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/ciragw/apf"
)

func TestLimiter(t *testing.T) {
	l := newLimiter(RateLimit{Burst: 2, Every: time.Second})
	now := time.Unix(1000, 0)
	require.True(t, l.allow("a", now))
	require.Empty(t, l.buckets, "checking creates no bucket")
	l.charge("a", now)
	require.True(t, l.allow("a", now))
	l.charge("a", now)
	require.False(t, l.allow("a", now))
	require.True(t, l.allow("b", now), "keys are independent")
	l.charge("a", now) // a login that was already in flight: debt
	require.False(t, l.allow("a", now.Add(1100*time.Millisecond)), "debt paid back first")
	require.True(t, l.allow("a", now.Add(2100*time.Millisecond)), "refilled")
	l.prune(now.Add(time.Hour))
	require.Empty(t, l.buckets, "full buckets are forgotten")
}

func TestLoginQueue(t *testing.T) {
	q := newLoginQueue(2)
	ctx := t.Context()
	require.NoError(t, q.enter(ctx, "a"))
	require.NoError(t, q.enter(ctx, "a"))
	require.NoError(t, q.enter(ctx, "b"), "addresses are independent")

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, q.enter(short, "a"), context.DeadlineExceeded, "a third login from a waits, within its deadline")

	entered := make(chan error, 1)
	go func() { entered <- q.enter(ctx, "a") }()
	q.leave("a")
	require.NoError(t, <-entered, "a turn given back goes to the waiter")
	q.leave("a")
	q.leave("a")
	q.leave("b")
	require.Empty(t, q.ips, "idle addresses are forgotten")
}

// slowAuth holds every Authenticate call until release is closed, so that
// logins pile up in flight as they do behind a slow backend. It accepts any
// GUID with docPass.
type slowAuth struct {
	release   chan struct{}
	entered   chan struct{} // one value per call that reached the backend
	ignoreCtx bool          // a backend that does not honour cancellation

	mu             sync.Mutex
	calls, now, hi int
}

func newSlowAuth() *slowAuth {
	return &slowAuth{release: make(chan struct{}), entered: make(chan struct{}, 1000)}
}

func (a *slowAuth) Authenticate(ctx context.Context, _, _, pass string) (string, error) {
	a.mu.Lock()
	a.calls++
	a.now++
	a.hi = max(a.hi, a.now)
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.now--
		a.mu.Unlock()
	}()
	a.entered <- struct{}{}
	done := ctx.Done()
	if a.ignoreCtx {
		done = nil
	}
	select {
	case <-a.release:
	case <-done:
		return "", ctx.Err()
	}
	if pass != docPass {
		return "", ErrBadCredentials
	}
	return tenantA, nil
}

func (a *slowAuth) stats() (calls, highest int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls, a.hi
}

func testGUID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// startLogins dials n devices from 127.0.0.1 and sends each one's login with
// pass, without waiting for answers.
func startLogins(t *testing.T, tg *testGateway, n int, pass string) []*rawDevice {
	t.Helper()
	ds := make([]*rawDevice, n)
	for i := range ds {
		ds[i] = dialRaw(t, tg)
		ds[i].send(versionMsg(testGUID(i)), apf.ServiceRequest{Name: apf.ServiceAuth}, authMsg(pass))
	}
	return ds
}

func waitEntered(t *testing.T, a *slowAuth, n int) {
	t.Helper()
	for range n {
		select {
		case <-a.entered:
		case <-time.After(10 * time.Second):
			t.Fatal("logins did not reach the authenticator")
		}
	}
}

// TestConcurrentGoodLoginsFromOneIP: a NAT'd site reconnecting at once, more
// logins in flight than the failure budget, behind a slow backend: all are
// accepted, at most LoginsInFlightPerIP reach the backend at a time.
func TestConcurrentGoodLoginsFromOneIP(t *testing.T) {
	const n, inFlight = 40, 4
	auth := newSlowAuth()
	tg := startGateway(t, func(c *Config) {
		c.Authenticator = auth
		c.LoginFailuresPerIP = RateLimit{Burst: 10, Every: time.Hour}
		c.LoginsInFlightPerIP = inFlight
	})
	ds := startLogins(t, tg, n, docPass)
	waitEntered(t, auth, inFlight)
	close(auth.release)
	for _, d := range ds {
		d.expect(apf.ServiceAccept{Name: apf.ServiceAuth})
		d.expect(apf.UserAuthSuccess{})
	}
	calls, highest := auth.stats()
	require.Equal(t, n, calls)
	require.Equal(t, inFlight, highest)
	require.Zero(t, counter(t, tg.reg, "dm_manager_ciragw_auth_failures_total", "reason", reasonRateLimitIP))
	require.Empty(t, tg.ipLimit.buckets, "good logins cost nothing")
}

// TestConcurrentWrongPasswordsLimited: a guesser with many logins in flight
// gets at most its budget plus the in-flight cap (less one) checked, then is
// refused without the backend being asked, even with the right password.
func TestConcurrentWrongPasswordsLimited(t *testing.T) {
	const n, burst, inFlight = 10, 3, 2
	auth := newSlowAuth()
	tg := startGateway(t, func(c *Config) {
		c.Authenticator = auth
		c.LoginFailuresPerIP = RateLimit{Burst: burst, Every: time.Hour}
		c.LoginsInFlightPerIP = inFlight
	})
	ds := startLogins(t, tg, n, "wrong")
	waitEntered(t, auth, inFlight)
	close(auth.release)
	refused := 0
	for _, d := range ds {
		d.expect(apf.ServiceAccept{Name: apf.ServiceAuth})
		switch m := d.next(); m {
		case apf.UserAuthFailure{Methods: apf.MethodPassword}:
			d.expectEnd(apf.DisconnectNoMoreAuthMethodsAvailable)
		case apf.Disconnect{Reason: apf.DisconnectByPolicy}:
			d.expectClosed()
			refused++
		default:
			t.Fatalf("unexpected %#v", m)
		}
	}
	calls, highest := auth.stats()
	require.GreaterOrEqual(t, calls, burst)
	require.LessOrEqual(t, calls, burst+inFlight-1)
	require.LessOrEqual(t, highest, inFlight)
	require.Equal(t, n-calls, refused)

	d := dialRaw(t, tg)
	d.send(versionMsg(docGUID), apf.ServiceRequest{Name: apf.ServiceAuth}, authMsg(docPass))
	d.expect(apf.ServiceAccept{Name: apf.ServiceAuth})
	d.expectEnd(apf.DisconnectByPolicy)
	after, _ := auth.stats()
	require.Equal(t, calls, after, "refused before the backend is asked")
	require.Equal(t, float64(refused+1), counter(t, tg.reg, "dm_manager_ciragw_auth_failures_total", "reason", reasonRateLimitIP))
}

// TestLoginWaitBoundedByHandshakeDeadline: a login waiting for a turn ends
// as a handshake timeout, not a refusal.
func TestLoginWaitBoundedByHandshakeDeadline(t *testing.T) {
	auth := newSlowAuth()
	auth.ignoreCtx = true
	tg := startGateway(t, func(c *Config) {
		c.Authenticator = auth
		c.LoginsInFlightPerIP = 1
		c.HandshakeTimeout = time.Second
	})
	holder := startLogins(t, tg, 1, docPass)[0]
	waitEntered(t, auth, 1)
	waiter := dialRaw(t, tg)
	waiter.send(versionMsg(testGUID(1)), apf.ServiceRequest{Name: apf.ServiceAuth}, authMsg(docPass))
	waiter.expect(apf.ServiceAccept{Name: apf.ServiceAuth})
	waiter.expectEnd(apf.DisconnectConnectionTimedOut)
	eventually(t, func() bool {
		return counter(t, tg.reg, "dm_manager_ciragw_handshakes_total", "result", resultTimeout) == 1
	},
		"counted as a timeout")
	calls, _ := auth.stats()
	require.Equal(t, 1, calls, "the waiter never reached the backend")
	require.Zero(t, counter(t, tg.reg, "dm_manager_ciragw_auth_failures_total", "reason", reasonBackend))

	close(auth.release) // the holder's answer comes after its deadline
	holder.expect(apf.ServiceAccept{Name: apf.ServiceAuth})
	holder.expect(apf.UserAuthSuccess{})
	holder.expectEnd(apf.DisconnectConnectionTimedOut)
}

func dialTLS(addr string, cfg *tls.Config) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	return conn.Close()
}

func clientTLS(legacy bool) *tls.Config {
	ca, _ := testPKI()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.RootPEM())
	c := &tls.Config{RootCAs: pool, ServerName: certName, MinVersion: tls.VersionTLS12}
	if legacy { // RSA key exchange: the key decrypts instead of signing (§1.1)
		c.CipherSuites = []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}
		c.MaxVersion = tls.VersionTLS12
	}
	return c
}

// TestManyHandshakesThroughOneKeyTurn: with a single key turn, many
// concurrent TLS 1.3 and legacy TLS 1.2 handshakes all complete.
func TestManyHandshakesThroughOneKeyTurn(t *testing.T) {
	const n = 32
	tg := startGateway(t, func(c *Config) { c.MaxConcurrentTLSKeyOps = 1 })
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- dialTLS(tg.addr, clientTLS(i%2 == 1)) }()
	}
	for range n {
		require.NoError(t, <-errs)
	}
	require.Zero(t, counter(t, tg.reg, "dm_manager_ciragw_tls_handshakes_waiting"))
	require.Zero(t, counter(t, tg.reg, "dm_manager_ciragw_handshakes_total", "result", resultTLSError))
}

// TestKeyTurnWaitBoundedByHandshakeDeadline: a handshake waiting for the key
// holds its pending slot and ends at the handshake deadline.
func TestKeyTurnWaitBoundedByHandshakeDeadline(t *testing.T) {
	tg := startGateway(t, func(c *Config) {
		c.MaxConcurrentTLSKeyOps = 1
		c.HandshakeTimeout = 300 * time.Millisecond
	})
	tg.keys.turns <- struct{}{} // the one turn is busy
	errs := make(chan error, 1)
	go func() { errs <- dialTLS(tg.addr, clientTLS(false)) }()
	eventually(t, func() bool {
		return counter(t, tg.reg, "dm_manager_ciragw_tls_handshakes_waiting") == 1 &&
			counter(t, tg.reg, "dm_manager_ciragw_pending_handshakes") == 1
	}, "handshake waiting for the key")
	require.Error(t, <-errs)
	eventually(t, func() bool {
		return counter(t, tg.reg, "dm_manager_ciragw_handshakes_total", "result", resultTimeout) == 1
	},
		"counted as a timeout")
	require.Zero(t, counter(t, tg.reg, "dm_manager_ciragw_tls_handshakes_waiting"))
	require.Zero(t, counter(t, tg.reg, "dm_manager_ciragw_pending_handshakes"))

	<-tg.keys.turns
	dialRaw(t, tg).establish(docGUID)
}

// silentConn lets a TLS client send its ClientHello and then never hear the
// server, like a peer that stalls mid-handshake.
type silentConn struct {
	net.Conn
	closed chan struct{}
}

func (c silentConn) Read([]byte) (int, error) {
	<-c.closed
	return 0, net.ErrClosed
}

// TestStalledPeersHoldNoKeyTurn: connections that say nothing, or stop after
// their ClientHello, do not keep other devices from their handshake.
func TestStalledPeersHoldNoKeyTurn(t *testing.T) {
	tg := startGateway(t, func(c *Config) {
		c.MaxConcurrentTLSKeyOps = 1
		c.HandshakeTimeout = time.Minute // longer than dialRaw waits
	})
	for range 3 {
		idle, err := net.Dial("tcp", tg.addr)
		require.NoError(t, err)
		t.Cleanup(func() { _ = idle.Close() })

		conn, err := net.Dial("tcp", tg.addr)
		require.NoError(t, err)
		sc := silentConn{Conn: conn, closed: make(chan struct{})}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = tls.Client(sc, clientTLS(false)).Handshake()
		}()
		t.Cleanup(func() {
			close(sc.closed)
			_ = conn.Close()
			<-done
		})
	}
	eventually(t, func() bool { return counter(t, tg.reg, "dm_manager_ciragw_pending_handshakes") == 6 }, "stalled peers pending")
	dialRaw(t, tg).establish(docGUID)
}
