package rps

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// tunnelCloseWait bounds how long closing a tunnelled TCP session waits for rpc-go's `connection_reset`: AMT closes
// the socket after every `Connection: close` exchange and rpc-go reports it, and that report must be consumed
// before the next session starts, or it would be taken for the next session's reset.
const tunnelCloseWait = 2 * time.Second

// errTunnelReset is a tunnelled TCP session that AMT or LMS closed (`connection_reset`, §1.9). It wraps
// net.ErrClosed: a request not written because of it never reached AMT, and the WS-Man client may send it again.
var errTunnelReset = fmt.Errorf("AMT closed the TLS connection (connection_reset from rpc-go): %w", net.ErrClosed)

// errLMS is rpc-go's fatal LMS error on the tunnel (`connection_reset` with payload `lms_error`).
var errLMS = fmt.Errorf("rpc-go reported an LMS error on AMT's TLS port (lms_error); check that LMS runs on the "+
	"host: %w", net.ErrClosed)

// tunnelConn is one TCP session from rpc-go to AMT's TLS port 16993, carried in `tls_data` messages: what we write
// goes out as one `tls_data` per Write, what rpc-go read from AMT comes back in `tls_data` messages (§1.9). The
// TLS client runs on top of it in the flow goroutine, which owns every read of the session's messages; only the
// deadline may be changed from elsewhere (context cancellation).
type tunnelConn struct {
	s *session

	mu       sync.Mutex
	deadline time.Time
	kick     chan struct{} // closed when the deadline changes
	buf      []byte
	ended    error // errTunnelReset / errLMS once rpc-go reported the end
	closed   bool
}

func newTunnelConn(s *session) *tunnelConn { return &tunnelConn{s: s, kick: make(chan struct{})} }

func (c *tunnelConn) Write(p []byte) (int, error) {
	// A reset rpc-go already reported must be seen before writing, so that a request it would drop counts as not
	// written (the WS-Man client may then send it again) rather than as possibly received by AMT.
	select {
	case m := <-c.s.in:
		c.take(m)
	default:
	}
	c.mu.Lock()
	closed, ended := c.closed, c.ended
	c.mu.Unlock()
	switch {
	case closed:
		return 0, net.ErrClosed
	case ended != nil:
		return 0, ended
	}
	payload := base64.StdEncoding.EncodeToString(p)
	if err := c.s.send(serverMessage{Method: methodTLSData, Status: "ok", Payload: &payload}); err != nil {
		c.s.cancel(errPeerClosed)
		return 0, errPeerClosed
	}
	c.s.tlsMessages++
	return len(p), nil
}

func (c *tunnelConn) Read(p []byte) (int, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return 0, net.ErrClosed
		}
		if len(c.buf) > 0 {
			n := copy(p, c.buf)
			c.buf = c.buf[n:]
			c.mu.Unlock()
			return n, nil
		}
		if c.ended != nil {
			ended := c.ended
			c.mu.Unlock()
			if ended == errLMS { // fatal, and the operator's to fix: said as it is, not as a closed socket
				return 0, errLMS
			}
			return 0, io.EOF
		}
		deadline, kick := c.deadline, c.kick
		c.mu.Unlock()
		if err := c.wait(deadline, kick); err != nil {
			return 0, err
		}
	}
}

// wait takes the next message of rpc-go, or fails when the deadline passes; a changed deadline returns nil so
// the caller looks again.
func (c *tunnelConn) wait(deadline time.Time, kick <-chan struct{}) error {
	var expire <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return os.ErrDeadlineExceeded
		}
		t := time.NewTimer(d)
		defer t.Stop()
		expire = t.C
	}
	select {
	case <-expire:
		return os.ErrDeadlineExceeded
	case <-kick:
	case <-c.s.done:
		return net.ErrClosed
	case m := <-c.s.in:
		c.take(m)
	}
	return nil
}

// take applies one message of rpc-go to the connection.
func (c *tunnelConn) take(m clientMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch m.Method {
	case methodTLSData:
		b, err := base64.StdEncoding.DecodeString(m.Payload)
		if err != nil {
			c.ended = errors.New("rpc-go sent tls_data whose payload is not base64")
			return
		}
		c.buf = append(c.buf, b...)
	case methodConnectionReset:
		c.ended = errTunnelReset
		if reason, _ := base64.StdEncoding.DecodeString(m.Payload); string(reason) == "lms_error" {
			c.ended = errLMS
		}
	default:
		c.s.ignore(m)
	}
}

// Close ends the session on our side and, unless rpc-go already reported the end, waits a little for its
// `connection_reset` (see tunnelCloseWait); tls_data still arriving for this session is dropped.
func (c *tunnelConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	ended := c.ended != nil
	c.mu.Unlock()
	if ended {
		return nil
	}
	t := time.NewTimer(tunnelCloseWait)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.s.log.Debug().Msg("rpc-go did not report the end of a TLS connection")
			return nil
		case <-c.s.done:
			return nil
		case m := <-c.s.in:
			if m.Method == methodConnectionReset {
				return nil
			}
			if m.Method != methodTLSData {
				c.s.ignore(m)
			}
		}
	}
}

func (c *tunnelConn) LocalAddr() net.Addr  { return tunnelAddr{} }
func (c *tunnelConn) RemoteAddr() net.Addr { return tunnelAddr{} }

func (c *tunnelConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	close(c.kick)
	c.kick = make(chan struct{})
	return nil
}

func (c *tunnelConn) SetReadDeadline(t time.Time) error { return c.SetDeadline(t) }

// SetWriteDeadline is a no-op: a write is one websocket message, bounded by the session's own write deadline.
func (c *tunnelConn) SetWriteDeadline(time.Time) error { return nil }

type tunnelAddr struct{}

func (tunnelAddr) Network() string { return "rpc-tls-tunnel" }
func (tunnelAddr) String() string  { return "rpc-tls-tunnel:16993" }
