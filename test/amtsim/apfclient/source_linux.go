package apfclient

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// bindAddressOnly lets a dial from a chosen source address leave the choice of
// its port to connect, as a dial without a source address does. A bind with
// port 0 takes a port of the ephemeral range for itself alone, whatever the
// destination; a load test's tens of thousands of devices then leave a load
// balancer on the same host no ports for its own connections to the
// gateways ("no free ports").
func bindAddressOnly(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
