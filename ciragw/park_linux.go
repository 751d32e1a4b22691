package ciragw

import (
	"syscall"
	"unsafe"
)

const canPark = true

// waitReadable waits in the runtime's poller, honouring the read deadline,
// until the socket has something to read, has ended or has failed. Its call
// chain is short, so a parked session costs the smallest goroutine stack.
// Waiting begins by clearing the poller's readiness, so it first peeks for
// bytes that came before; after that only a new event wakes it, and an event
// from before the peek that the poller delivers late costs no more than one
// read that waits.
func waitReadable(rc syscall.RawConn) error {
	peeked := false
	return rc.Read(func(fd uintptr) bool {
		if peeked {
			return true
		}
		peeked = true
		var b [1]byte
		for {
			//nolint:gosec // G103: a one-byte peek into an array on the stack; the raw call keeps this wait's stack small
			_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
				syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
			if errno != syscall.EINTR {
				return errno != syscall.EAGAIN
			}
		}
	})
}
