package ciragw

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// errParked is what an established session's Read answers when TLS holds no
// message and the socket has none either: the session's goroutine returns
// and the poller holds the session until the socket turns readable.
var errParked = errors.New("ciragw: nothing to read yet; parking")

// busyWindow is how long after the last channel data a session waits in Read
// before it parks: a WS-Man exchange is several messages a round trip apart,
// and a flow's next request follows within milliseconds, so they need no
// wake-up through the poller each; a device used once holds a goroutine (8
// KiB of stack, scanned at every collection) for a second only. At 30 s,
// 1,000 REST calls a second to random devices of 10,000 kept most of them on
// a goroutine blocked in Read, and the collector's marking took 1.5 times
// the CPU (make load).
const busyWindow = time.Second

// aLongTimeAgo is a read deadline that has passed: the read takes what is
// buffered and never waits for the socket.
var aLongTimeAgo = time.Unix(1, 0)

// sweepInterval is how often the poller looks for parked sessions whose idle
// deadline passed: a tenth of it, between 10 ms and a second (a session
// outlives IdleTimeout by at most that much).
func sweepInterval(idle time.Duration) time.Duration {
	return min(max(idle/10, 10*time.Millisecond), time.Second)
}

// rawConnOf returns the socket under conn for the poller to wait on, or nil
// where the session cannot park (no poller, or not a socket): it then waits
// in Read on its goroutine.
func rawConnOf(conn net.Conn, p *poller) syscall.RawConn {
	sc, ok := conn.(syscall.Conn)
	if !ok || p == nil {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}
