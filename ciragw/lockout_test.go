package ciragw

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/ciragw/apf"
	dmmetrics "github.com/dmrm/dm-manager/internal/metrics"
)

// source is one loopback address a test client dials from (127.0.0.0/8 is
// all loopback on Linux). Its TLS session cache lets later handshakes resume,
// so thousands of logins cost ECDHE, not an RSA signature each.
type source struct {
	ip  string
	tls *tls.Config
}

func newSource(ip string) *source {
	ca, _ := testPKI()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.RootPEM())
	return &source{ip: ip, tls: &tls.Config{RootCAs: pool, ServerName: certName, MinVersion: tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(4)}}
}

// login outcomes as the device sees them.
const (
	loggedIn = "logged in"
	refused  = "refused"         // USERAUTH_FAILURE: the password was checked
	byPolicy = "refused, policy" // DISCONNECT BY_POLICY: the source is over its budget
)

// login runs one password login for guid from src and says how it ended. It
// reports errors instead of failing the test, so it may run on any goroutine.
func (src *source) login(addr, guid, pass string) (string, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src.ip)}, Timeout: time.Minute}
	conn, err := tls.DialWithDialer(&d, "tcp", addr, src.tls)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		return "", err
	}
	var b []byte
	for _, m := range []apf.Message{versionMsg(guid), apf.ServiceRequest{Name: apf.ServiceAuth}, authMsg(pass)} {
		b = m.AppendTo(b)
	}
	if _, err := conn.Write(b); err != nil {
		return "", err
	}
	rd := apf.NewReader(conn, apf.Decoder{})
	for {
		m, err := rd.Next()
		if err != nil {
			return "", fmt.Errorf("login from %s: %w", src.ip, err)
		}
		switch m := m.(type) {
		case apf.ServiceAccept:
		case apf.UserAuthSuccess:
			return loggedIn, nil
		case apf.UserAuthFailure:
			return refused, nil
		case apf.Disconnect:
			if m.Reason == apf.DisconnectByPolicy {
				return byPolicy, nil
			}
			return "", fmt.Errorf("login from %s: unexpected %v", src.ip, m.Reason)
		default:
			return "", fmt.Errorf("login from %s: unexpected %#v", src.ip, m)
		}
	}
}

// hammer sends perSource wrong logins for guid from each source, the
// sources in parallel, and counts the outcomes.
func hammer(t *testing.T, tg *testGateway, srcs []*source, perSource int, guid string) map[string]int {
	t.Helper()
	var mu sync.Mutex
	got := map[string]int{}
	errs := make(chan error, len(srcs))
	var wg sync.WaitGroup
	for _, src := range srcs {
		wg.Go(func() {
			for range perSource {
				res, err := src.login(tg.addr, guid, "wrong")
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				got[res]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	return got
}

func sources(first, n int) []*source {
	srcs := make([]*source, n)
	for i := range srcs {
		srcs[i] = newSource(fmt.Sprintf("127.0.%d.%d", (first+i)/250, 1+(first+i)%250))
	}
	return srcs
}

// TestWrongLoginsDoNotLockOutTheDevice is the report of issue 11: 200 wrong
// logins for one GUID from 4 sources used to refuse the device's right
// password too. Per-source limits still refuse the guessers.
func TestWrongLoginsDoNotLockOutTheDevice(t *testing.T) {
	tg := startGateway(t, func(c *Config) {
		c.LoginFailureDelay = 20 * time.Millisecond
		c.HandshakeTimeout = time.Minute
	})
	tg.auth.add(docGUID, docPass)
	got := hammer(t, tg, sources(10, 4), 50, docGUID)
	require.Equal(t, 200, got[refused]+got[byPolicy], "%v", got)
	require.Positive(t, got[byPolicy], "sources over their budget are refused unchecked")
	require.Positive(t, counter(t, tg.reg, "dm_manager_ciragw_auth_failures_total", "reason", reasonRateLimitGUID))

	res, err := newSource("127.0.0.200").login(tg.addr, docGUID, docPass)
	require.NoError(t, err)
	require.Equal(t, loggedIn, res)
	// The device's own address logs in too once it is not over its own budget.
	dialRaw(t, tg).establish(docGUID)
}

// TestTenThousandWrongLoginsFromHundredSources: a distributed guesser at one
// GUID; afterwards the right password logs in at once (no waiting for a
// budget to refill), and the limiter state and heap stay bounded.
func TestTenThousandWrongLoginsFromHundredSources(t *testing.T) {
	nSources, perSource := 100, 100 // 10,000 logins
	if testing.Short() || raceEnabled {
		perSource = 20 // 2,000: still five times each source's failure budget
	}
	tg := startGateway(t, func(c *Config) {
		c.LoginFailureDelay = 5 * time.Millisecond
		c.HandshakeTimeout = time.Minute // a loaded machine must not turn guesses into timeouts
	})
	tg.auth.add(docGUID, docPass)
	srcs := sources(300, nSources)
	hammer(t, tg, srcs[:2], 5, testGUID(1)) // warm up TLS, pools and metrics
	before := heapInUse(t, tg)

	start := time.Now()
	got := hammer(t, tg, srcs, perSource, docGUID)
	took := time.Since(start)
	t.Logf("%d wrong logins from %d sources in %s: %v, %d checked", nSources*perSource, nSources, took, got,
		tg.auth.callCount())
	require.Equal(t, nSources*perSource, got[refused]+got[byPolicy])
	// Each source: its burst of 20, one more per 3 s, and at most 16 in flight when its budget ran out.
	budget := nSources * (20 + 16 + int(took/(3*time.Second)) + 1)
	require.LessOrEqual(t, tg.auth.callCount(), budget+10, "the sources' budgets bound the checks")

	start = time.Now()
	res, err := newSource("127.0.0.250").login(tg.addr, docGUID, docPass)
	require.NoError(t, err)
	require.Equal(t, loggedIn, res)
	require.Less(t, time.Since(start), 2*time.Second, "within one AMT connection attempt")

	after := heapInUse(t, tg)
	t.Logf("heap in use: before %d KiB, after %d KiB", before>>10, after>>10)
	require.Less(t, int64(after)-int64(before), int64(8<<20), "heap grew by more than 8 MiB")
	tg.ipLimit.mu.Lock()
	require.LessOrEqual(t, len(tg.ipLimit.buckets), nSources+2)
	tg.ipLimit.mu.Unlock()
	tg.guidLimit.mu.Lock()
	require.LessOrEqual(t, len(tg.guidLimit.buckets), 2)
	tg.guidLimit.mu.Unlock()
	tg.logins.mu.Lock()
	require.Empty(t, tg.logins.ips)
	tg.logins.mu.Unlock()
}

// heapInUse is the live heap once every refused connection has ended.
func heapInUse(t *testing.T, tg *testGateway) uint64 {
	t.Helper()
	eventually(t, func() bool { return counter(t, tg.reg, "dm_manager_ciragw_pending_handshakes") == 0 }, "handshakes ended")
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// panicAuth panics for one GUID, as a bug in a backend might; others log in.
type panicAuth struct{ *fakeAuth }

const panicGUID = "00000000-0000-4000-8000-00000000dead"

func (a panicAuth) Authenticate(ctx context.Context, guid, user, pass string) (string, error) {
	if guid == panicGUID {
		panic("injected: authenticator bug")
	}
	return a.fakeAuth.Authenticate(ctx, guid, user, pass)
}

// TestPanicCostsOneSession: a panic while serving one device ends that
// session only; an established session and new logins carry on.
func TestPanicCostsOneSession(t *testing.T) {
	auth := panicAuth{newFakeAuth()}
	auth.add(docGUID, docPass)
	auth.add(testGUID(2), docPass)
	tg := startGateway(t, func(c *Config) { c.Authenticator = auth })
	up := dialRaw(t, tg)
	up.establish(docGUID)
	before := panicsRecovered(t)

	d := dialRaw(t, tg)
	d.send(versionMsg(panicGUID), apf.ServiceRequest{Name: apf.ServiceAuth}, authMsg(docPass))
	d.expect(apf.ServiceAccept{Name: apf.ServiceAuth})
	d.expectEnd(apf.DisconnectProtocolError)
	require.Equal(t, before+1, panicsRecovered(t))

	_, ok := tg.Session(docGUID)
	require.True(t, ok, "the other session is still up")
	up.send(apf.KeepaliveRequest{Cookie: 7})
	require.Equal(t, apf.KeepaliveReply{Cookie: 7}, up.next())
	dialRaw(t, tg).establish(testGUID(2))
	eventually(t, func() bool { return counter(t, tg.reg, "dm_manager_ciragw_pending_handshakes") == 0 }, "no handshake left over")
}

func panicsRecovered(t *testing.T) float64 {
	t.Helper()
	return counter(t, dmmetrics.NewRegistry(), "dm_manager_panics_recovered_total", "component", "cira_session")
}
