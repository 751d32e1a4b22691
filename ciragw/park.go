package ciragw

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// errParked is what an established session's Read answers when TLS holds no
// message and the socket has none either: the session's goroutine ends and
// park waits for the socket on a new one.
var errParked = errors.New("ciragw: nothing to read yet; parking")

// busyWindow is how long after the last channel data a session waits in Read
// before it parks: one keepalive period (AMT's default), so that a device in
// use (a WS-Man exchange is several messages a round trip apart, and callers
// come back) does not pay a wake-up per message, and a device that was not
// used during its last keepalive period waits on the smallest stack.
const busyWindow = 30 * time.Second

// aLongTimeAgo is a read deadline that has passed: the read takes what is
// buffered and never waits for the socket.
var aLongTimeAgo = time.Unix(1, 0)

// rawConnOf returns the socket under conn to wait on while parked, or nil
// where parking is not possible (not a socket, or not this platform).
func rawConnOf(conn net.Conn) syscall.RawConn {
	sc, ok := conn.(syscall.Conn)
	if !ok || !canPark {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}
