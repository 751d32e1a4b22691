package dmtclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

// ChannelOpener opens a forwarded-tcpip channel to a port of a CIRA-connected device; (*ciragw.Gateway)
// implements it. It is an interface so that callers can put their own error mapping or accounting in between.
type ChannelOpener interface {
	OpenChannel(ctx context.Context, guid string, port uint16) (net.Conn, error)
}

// DefaultCIRAOpenTimeout bounds the wait for AMT's CHANNEL_OPEN_CONFIRMATION when CIRADialer.OpenTimeout is zero.
const DefaultCIRAOpenTimeout = 30 * time.Second

// CIRADialer reaches a device's WS-Man port through its CIRA tunnel: every Dial opens a new APF channel, so the
// wsman client's retry after a digest 401 (which AMT answers with Connection: close) goes over a fresh channel, as
// protocol-cira-wsman §8.3 requires.
type CIRADialer struct {
	Gateway ChannelOpener
	GUID    string // device GUID, any case; sent lower-case
	// Port defaults to AMTHTTPPort: WS-Man over CIRA is always plain HTTP on 16992 (§8.1).
	Port uint16
	// OpenTimeout bounds one channel open when the context has no earlier deadline (default
	// DefaultCIRAOpenTimeout). The exchange itself is bounded by wsman.Config.Timeout.
	OpenTimeout time.Duration
}

var _ wsman.Dialer = CIRADialer{}

// Dial opens a new channel to the device.
func (d CIRADialer) Dial(ctx context.Context) (net.Conn, error) {
	if d.Gateway == nil {
		return nil, errors.New("dmtclient: CIRADialer.Gateway is nil")
	}
	timeout := d.OpenTimeout
	if timeout <= 0 {
		timeout = DefaultCIRAOpenTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := d.Gateway.OpenChannel(ctx, strings.ToLower(d.GUID), d.port())
	if err != nil {
		return nil, fmt.Errorf("open CIRA channel to port %d of %s: %w", d.port(), strings.ToLower(d.GUID), err)
	}
	return channelConn{conn}, nil
}

// channelConn makes a write to a channel AMT has closed read as a write to a closed pipe: that is the error on
// which the wsman client retries a reused keep-alive connection over a fresh one, as it does for TCP.
type channelConn struct{ net.Conn }

func (c channelConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if errors.Is(err, ciragw.ErrChannelClosedByDevice) {
		err = fmt.Errorf("%w: %w", io.ErrClosedPipe, err)
	}
	return n, err
}

// Host is the Host header AMT expects over CIRA: "<lower-case-guid>:16992" (§8.1).
func (d CIRADialer) Host() string {
	return strings.ToLower(d.GUID) + ":" + strconv.Itoa(int(d.port()))
}

func (d CIRADialer) port() uint16 {
	if d.Port == 0 {
		return AMTHTTPPort
	}
	return d.Port
}

// CIRAClientConfig configures NewCIRAClient.
type CIRAClientConfig struct {
	Gateway  ChannelOpener
	GUID     string
	Username string // "admin" for an activated device (MPS hard-codes it, §4.1)
	Password string // the device's AMT admin password
	// FallbackPassword is wsman.Config.FallbackPassword: the one AMT had before a change whose outcome was lost.
	FallbackPassword string
	OpenTimeout      time.Duration
	// Timeout bounds one WS-Man exchange (wsman.Config.Timeout; default there 60 s).
	Timeout time.Duration
	// Observe is wsman.Config.Observe, e.g. (*ciragw.Gateway).ObserveWSManLatency.
	Observe func(time.Duration)
}

// NewCIRAClient returns a WS-Man client that talks to the device through its CIRA tunnel.
func NewCIRAClient(cfg CIRAClientConfig) (*wsman.Client, error) {
	d := CIRADialer{Gateway: cfg.Gateway, GUID: cfg.GUID, OpenTimeout: cfg.OpenTimeout}
	if d.Gateway == nil {
		return nil, errors.New("dmtclient: CIRAClientConfig.Gateway is required")
	}
	if cfg.GUID == "" {
		return nil, errors.New("dmtclient: CIRAClientConfig.GUID is required")
	}
	return wsman.New(wsman.Config{
		Dialer: d, Host: d.Host(), Username: cfg.Username, Password: cfg.Password,
		FallbackPassword: cfg.FallbackPassword, Timeout: cfg.Timeout, Observe: cfg.Observe,
	})
}
