package dmtclient

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

// AMTHTTPPort is AMT's plain-HTTP WS-Man port (protocol-cira-wsman §8.1).
const AMTHTTPPort = 16992

// TCPDialer reaches a device's WS-Man port over plain TCP (a local AMT, LMS on 127.0.0.1, a lab network, or a
// simulated device listening elsewhere).
type TCPDialer struct {
	Host    string        // IP address or name of the device
	Port    int           // 0 means AMTHTTPPort
	Timeout time.Duration // connect timeout; 0 leaves it to the context
}

var _ wsman.Dialer = TCPDialer{}

// Dial opens a new TCP connection to the device.
func (d TCPDialer) Dial(ctx context.Context) (net.Conn, error) {
	nd := net.Dialer{Timeout: d.Timeout}
	return nd.DialContext(ctx, "tcp", d.Address())
}

// Address is the host:port dialled, also the value for wsman.Config.Host.
func (d TCPDialer) Address() string {
	port := d.Port
	if port == 0 {
		port = AMTHTTPPort
	}
	return net.JoinHostPort(d.Host, strconv.Itoa(port))
}
