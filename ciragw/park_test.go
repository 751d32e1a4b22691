package ciragw

import (
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
)

// heldConn lets a test hold what TLS writes and release it in chosen pieces:
// several records in one segment, or one record split across segments.
type heldConn struct {
	net.Conn
	mu   sync.Mutex
	hold bool
	buf  []byte
}

func (c *heldConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hold {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// release writes what was held: in pieces of the given sizes with a pause
// after each, the rest at once; then writes pass through again.
func (c *heldConn) release(t *testing.T, pause time.Duration, pieces ...int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.buf
	for _, n := range pieces {
		_, err := c.Conn.Write(b[:n])
		require.NoError(t, err)
		b = b[n:]
		time.Sleep(pause)
	}
	_, err := c.Conn.Write(b)
	require.NoError(t, err)
	c.buf, c.hold = nil, false
}

func dialHeld(t *testing.T, tg *testGateway) (*rawDevice, *heldConn) {
	t.Helper()
	tcp, err := net.Dial("tcp", tg.addr)
	require.NoError(t, err)
	held := &heldConn{Conn: tcp}
	ca, _ := testPKI()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.RootPEM())
	conn := tls.Client(held, &tls.Config{RootCAs: pool, ServerName: certName, MinVersion: tls.VersionTLS12})
	t.Cleanup(func() { _ = conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	return &rawDevice{t: t, tg: tg, conn: conn, w: conn, rd: apf.NewReader(conn, apf.Decoder{})}, held
}

// An established session parks between messages; however the bytes of the
// next messages arrive, it wakes and answers each.
func TestParkedSessionWakesForEveryMessage(t *testing.T) {
	tg := startGateway(t)
	d, held := dialHeld(t, tg)
	d.establish(docGUID)
	park := func() { time.Sleep(30 * time.Millisecond) } // long enough for the session to park
	cookie := uint32(0)
	keepalive := func() apf.Message { cookie++; return apf.KeepaliveRequest{Cookie: cookie} }
	expectReplies := func(from uint32) {
		for c := from; c <= cookie; c++ {
			d.expect(apf.KeepaliveReply{Cookie: c})
		}
	}

	park()
	d.send(keepalive(), keepalive(), keepalive()) // three messages, one record
	expectReplies(1)

	park()
	held.hold = true
	d.send(keepalive())
	d.send(keepalive())
	d.send(keepalive())
	held.release(t, 0) // three records, one segment: TLS reads them all at once and holds two
	expectReplies(4)

	park()
	held.hold = true
	d.send(keepalive())
	held.release(t, 30*time.Millisecond, 3, 4, 10) // one record: part of its header, the rest of it, part of its body
	expectReplies(7)

	park()
	b := apf.Marshal(keepalive()) // one message split over two records with a park between
	d.write(b[:2])
	park()
	d.write(b[2:])
	expectReplies(8)

	park()
	d.w = oneByteWriter{d.conn} // one record per byte
	d.send(keepalive())
	expectReplies(9)
	require.Equal(t, 9.0, counter(t, tg.reg, "dm_manager_ciragw_keepalives_total"))
}

// A parked session holds no goroutine and no stack: the poller waits for its
// socket. (A goroutine blocked in tls.Conn.Read after the APF handshake held
// 8 KiB of stack; one waiting for its socket, as sessions parked before the
// poller, 2 KiB.)
func TestParkedSessionHoldsNoGoroutine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("sessions park on Linux only")
	}
	const n = 300
	tg := startGateway(t, func(c *Config) { c.Authenticator = fleetAuth{}; c.MaxPendingHandshakes = n + 1 })
	// Goroutines of earlier tests may still be ending: read until two readings agree.
	settled := func() (goroutines int, stack int64) {
		last := -1
		for range 50 {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			goroutines, stack = runtime.NumGoroutine(), int64(ms.StackInuse)
			if goroutines == last {
				break
			}
			last = goroutines
			time.Sleep(20 * time.Millisecond)
		}
		return goroutines, stack
	}
	g0, s0 := settled()
	devices := make([]*rawDevice, n)
	for i := range n {
		devices[i] = dialRaw(t, tg)
		devices[i].establish(fmt.Sprintf("00000000-0000-4000-8000-%012d", i))
	}
	g1, s1 := settled()
	t.Logf("%.2f goroutines and %.0f bytes of stack per parked session (the test's own device side included)",
		float64(g1-g0)/n, float64(s1-s0)/n)
	// Each raw device's TLS client holds no goroutine either; workers and the poller are a few in all.
	require.Less(t, g1-g0, n/10, "goroutines for %d parked sessions", n)
	require.Less(t, float64(s1-s0)/n, 512.0, "stack bytes per parked session")
	// Parked sessions still answer.
	for i, d := range devices {
		d.send(apf.KeepaliveRequest{Cookie: uint32(i)})
		d.expect(apf.KeepaliveReply{Cookie: uint32(i)})
	}
}

// Sessions killed while they park and wake (Disconnect from another goroutine
// during a stream of keepalives) all end: none is left parked on a socket
// that kill closed or half-closed.
func TestParkedSessionsEndWhenKilled(t *testing.T) {
	const n = 60
	tg := startGateway(t, func(c *Config) { c.Authenticator = fleetAuth{}; c.MaxPendingHandshakes = n + 1 })
	var wg sync.WaitGroup
	for i := range n {
		guid := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		d := dialRaw(t, tg)
		d.establish(guid)
		wg.Add(2)
		go func() { // keepalives at uneven gaps, replies unread, until the connection ends
			defer wg.Done()
			for c := range uint32(40) {
				if _, err := d.conn.Write(apf.Marshal(apf.KeepaliveRequest{Cookie: c})); err != nil {
					return
				}
				time.Sleep(time.Duration(i%7) * 300 * time.Microsecond)
			}
		}()
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i%11) * time.Millisecond)
			tg.Disconnect(guid)
		}()
	}
	eventually(t, func() bool { return len(tg.Sessions()) == 0 }, "every killed session ended")
	wg.Wait()
}

// hiddenSocketListener hands out connections that do not expose their socket
// (no syscall.Conn): their sessions cannot park, as on a platform without
// the poller, and wait in Read on their goroutine.
type hiddenSocketListener struct{ net.Listener }

func (l hiddenSocketListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return struct{ net.Conn }{c}, nil
}

// A session that cannot park answers keepalives, times out when the device
// goes silent, and ends when disconnected.
func TestSessionThatCannotPark(t *testing.T) {
	tg := startGatewayOn(t, func(ln net.Listener) net.Listener { return hiddenSocketListener{ln} },
		func(c *Config) { c.Authenticator = fleetAuth{}; c.IdleTimeout = time.Second })
	silent := dialRaw(t, tg)
	silent.establish(docGUID)
	kicked := dialRaw(t, tg)
	const other = "00000000-0000-4000-8000-000000000001"
	kicked.establish(other)
	for cookie := range uint32(12) { // 100 ms apart, past the silent device's idle timeout
		kicked.send(apf.KeepaliveRequest{Cookie: cookie})
		kicked.expect(apf.KeepaliveReply{Cookie: cookie})
		time.Sleep(100 * time.Millisecond)
	}
	silent.expectEnd(apf.DisconnectConnectionTimedOut)
	require.True(t, tg.Disconnect(other))
	kicked.expectEnd(apf.DisconnectByApplication)
	eventually(t, func() bool { return len(tg.Sessions()) == 0 }, "both sessions ended")
}
