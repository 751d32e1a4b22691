package ciragw

import (
	"syscall"
	"unsafe"
)

const canPark = true

// waitReadable waits in the runtime's poller, honouring the read deadline,
// until the socket holds a byte, has ended or has failed. It peeks rather than
// trusting a wake-up: the poller is edge-triggered and may report an edge
// whose bytes the session has read since. Its call chain is short, so a
// parked session costs the smallest goroutine stack.
func waitReadable(rc syscall.RawConn) error {
	return rc.Read(func(fd uintptr) bool {
		var b [1]byte
		for {
			_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
				syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
			if errno != syscall.EINTR {
				return errno != syscall.EAGAIN
			}
		}
	})
}
