package wsman

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Exchanger carries one raw HTTP request to AMT and returns every byte AMT answered, e.g. over the rpc-go
// websocket: the request goes out base64-encoded in a `wsman` message and the answer is the payload of the next
// `response` message (protocol-rps-activation §1.6). It must honour ctx. A failure that carries a write outcome
// (an *ExchangeError, e.g. from the replica that wrote the request) keeps it; any other failure counts as
// PossiblyWritten.
type Exchanger interface {
	Exchange(ctx context.Context, request []byte) ([]byte, error)
}

// ExchangerFunc adapts a function to Exchanger.
type ExchangerFunc func(ctx context.Context, request []byte) ([]byte, error)

// Exchange calls f.
func (f ExchangerFunc) Exchange(ctx context.Context, request []byte) ([]byte, error) {
	return f(ctx, request)
}

// RelayDialer turns an Exchanger into a Dialer. The Client writes a request in a single Write, which performs the
// exchange; Reads then return the answer and io.EOF. With Config.DisableKeepAlive each connection carries one
// exchange (the rpc-go relay); with keep-alive the Client writes the next request on the same connection once it
// has read the whole answer, and the Exchanger's far end may keep AMT's connection open in between (the replica
// API does).
func RelayDialer(x Exchanger) Dialer {
	return DialerFunc(func(ctx context.Context) (net.Conn, error) {
		return &relayConn{ctx: ctx, x: x}, nil
	})
}

// relayConn is a net.Conn over exchanges, one at a time, each bounded by the deadline the Client sets; the first
// is bounded by the dialling context too. A later one (keep-alive) outlives the call that dialled: moving the
// deadline into the past, as the Client does when its call is cancelled, cancels it.
type relayConn struct {
	ctx context.Context
	x   Exchanger

	mu     sync.Mutex // one exchange at a time; guards the fields below
	sent   bool
	closed bool
	resp   bytes.Reader

	dmu      sync.Mutex // guards deadline and cancel: SetDeadline must not wait for a running exchange
	deadline time.Time
	cancel   context.CancelFunc // of the running exchange
}

var errRelayUsed = errors.New("wsman: relay connection written again before its answer was read")

func (c *relayConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return 0, net.ErrClosed
	case c.sent && c.resp.Len() > 0:
		return 0, errRelayUsed
	}
	ctx := c.ctx
	if c.sent {
		ctx = context.WithoutCancel(ctx)
	}
	c.sent = true
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.dmu.Lock()
	if !c.deadline.IsZero() {
		var stop context.CancelFunc
		ctx, stop = context.WithDeadline(ctx, c.deadline)
		defer stop()
	}
	c.cancel = cancel
	c.dmu.Unlock()
	resp, err := c.x.Exchange(ctx, p)
	c.dmu.Lock()
	c.cancel = nil
	c.dmu.Unlock()
	if err != nil {
		if WrittenOf(err) == 0 {
			// The request was handed to the relay, which may have passed it on to AMT.
			err = &ExchangeError{Written: PossiblyWritten, Err: err}
		}
		return 0, err
	}
	c.resp.Reset(resp)
	return len(p), nil
}

func (c *relayConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return 0, net.ErrClosed
	case !c.sent:
		return 0, errors.New("wsman: relay connection read before the request was written")
	}
	n, err := c.resp.Read(p)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (c *relayConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *relayConn) LocalAddr() net.Addr  { return relayAddr{} }
func (c *relayConn) RemoteAddr() net.Addr { return relayAddr{} }

// SetDeadline bounds the exchange that the next Write performs; a deadline already past cancels a running one.
func (c *relayConn) SetDeadline(t time.Time) error {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	c.deadline = t
	if c.cancel != nil && !t.IsZero() && !t.After(time.Now()) {
		c.cancel()
	}
	return nil
}

func (c *relayConn) SetReadDeadline(time.Time) error    { return nil }
func (c *relayConn) SetWriteDeadline(t time.Time) error { return c.SetDeadline(t) }

type relayAddr struct{}

func (relayAddr) Network() string { return "rpc-relay" }
func (relayAddr) String() string  { return "rpc-relay" }
