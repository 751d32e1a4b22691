package ciragw

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/ciragw/apf"
	dmmetrics "github.com/dmrm/dm-manager/internal/metrics"
)

// errPeerDisconnected ends a session on the device's DISCONNECT.
var errPeerDisconnected = errors.New("device sent DISCONNECT")

// hsState is where a session stands in the handshake of §3, enforced in order.
type hsState uint8

const (
	stVersion     hsState = iota // waiting for PROTOCOLVERSION
	stAuthService                // waiting for SERVICE_REQUEST auth@amt.intel.com
	stUserAuth                   // waiting for USERAUTH_REQUEST
	stPortForward                // waiting for SERVICE_REQUEST pfwd@amt.intel.com
	stForwarding                 // waiting for the first tcpip-forward
	stEstablished                // channels may be opened
)

// session is one device's CIRA connection: the transport it reads and writes
// messages on, the handshake state (handshake.go) and, once established, the
// channel table (mux). A single goroutine (serve) reads and dispatches every
// message, so the handshake fields need no lock.
type session struct {
	transport
	g       *Gateway
	tlsConn *tls.Conn
	remote  string
	ip      string

	// Owned by the reader goroutine.
	hsDeadline time.Time
	state      hsState
	forwards   int
	kaOptsSent bool
	pending    bool   // holds a MaxPendingHandshakes slot
	hsResult   string // handshake metric label when the handshake fails
	slowed     bool   // the login failed over its GUID's budget and was answered late
	guid       string // set before registration, immutable after
	tenant     string

	// mux is set up once established, before the session is registered;
	// registry readers see it through the registry lock.
	mux mux

	lastSeen        atomic.Int64 // unix nanoseconds of the last message received
	connectedAt     time.Time
	lastSeenWritten int64 // owned by the presence flusher
}

func newSession(g *Gateway, raw net.Conn) *session {
	remote := raw.RemoteAddr().String()
	ip, _, _ := net.SplitHostPort(remote)
	tc := tls.Server(raw, g.tlsConfig)
	return &session{
		transport:  newTransport(raw, tc, g.cfg.WriteTimeout, g.m),
		g:          g,
		tlsConn:    tc,
		remote:     remote,
		ip:         ip,
		hsDeadline: time.Now().Add(g.cfg.HandshakeTimeout),
		pending:    true,
	}
}

// start runs the TLS handshake, then hands the connection to a new goroutine
// that serves it until it ends; done runs when the session has ended. The
// TLS handshake grows its goroutine's stack to 16 KiB or more, and stacks
// shrink only by halves at GC: a fresh goroutine for the long idle life of the
// session settles on a smaller stack (the read path needs under 4 KiB).
func (s *session) start(ctx context.Context, wg *sync.WaitGroup, done func()) {
	if err := s.recovered(func() error { return s.tlsHandshake(ctx) }); err != nil {
		s.end(err)
		done()
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.end(s.recovered(func() error { return s.serve(ctx) }))
		done()
	}()
}

// recovered runs fn (the TLS handshake, then serve) so that a panic costs
// this session only: it ends as a protocol error (DISCONNECT, channels
// failed, deregistered) and the gateway serves on.
func (s *session) recovered(fn func() error) (err error) {
	defer dmmetrics.RecoverPanic("cira_session", *s.logger(), func(v any) {
		err = &ProtocolError{Reason: apf.DisconnectProtocolError, Msg: fmt.Sprintf("internal error: %v", v)}
	})
	return fn()
}

func (s *session) tlsHandshake(ctx context.Context) error {
	if err := s.raw.SetDeadline(s.hsDeadline); err != nil {
		return err
	}
	hctx, cancel := context.WithDeadline(ctx, s.hsDeadline)
	defer cancel()
	if err := s.tlsConn.HandshakeContext(hctx); err != nil {
		s.hsResult = resultTLSError
		if errors.Is(hctx.Err(), context.DeadlineExceeded) {
			s.hsResult = resultTimeout
		}
		return fmt.Errorf("TLS handshake: %w", err)
	}
	s.canDisconnect.Store(true)
	return nil
}

// serve reads and dispatches messages until the connection ends; it is the
// session's only goroutine.
func (s *session) serve(ctx context.Context) error {
	rd := apf.NewReader(s, apf.Decoder{})
	for {
		m, err := rd.Next()
		if err != nil {
			return err
		}
		if s.lingering() {
			continue // DISCONNECT sent: drain, never act
		}
		s.lastSeen.Store(time.Now().UnixNano())
		if err := s.handle(ctx, m); err != nil {
			return err
		}
	}
}

// Read feeds the APF reader, arming the read deadline first: the handshake
// deadline until established, then the idle timeout (§6).
func (s *session) Read(p []byte) (int, error) {
	d := s.hsDeadline
	if s.state == stEstablished {
		d = time.Now().Add(s.g.cfg.IdleTimeout)
	}
	return s.readBefore(p, d)
}

// end runs once the session's goroutine is done: it says goodbye as the error deserves, fails the
// channels and updates registry, metrics and logs.
func (s *session) end(err error) {
	reason, result := s.classify(err)
	s.kill(reason)
	s.close()
	s.mux.close(fmt.Errorf("%w: %w", ErrSessionClosed, err))

	if s.state == stEstablished {
		s.g.deregister(s)
		s.logger().Info().Err(err).Msg("CIRA session ended")
		return
	}
	s.releasePending()
	s.g.m.handshakes.WithLabelValues(result).Inc()
	s.logger().Info().Err(err).Str("result", result).Msg("CIRA handshake failed")
}

// classify maps why the session ended to the DISCONNECT reason to send and
// the handshake metric label.
func (s *session) classify(err error) (apf.DisconnectReason, string) {
	var pe *ProtocolError
	var me *apf.MalformedError
	var ne net.Error
	result := s.hsResult
	reason := apf.DisconnectReason(0)
	switch {
	case s.lingering():
		// Ended by kill, which already said why.
	case errors.As(err, &pe):
		reason = pe.Reason
		if result == "" {
			result = resultProtocolError
		}
	case errors.As(err, &me):
		reason, result = apf.DisconnectProtocolError, resultProtocolError
	case errors.As(err, &ne) && ne.Timeout() && result == "":
		reason, result = apf.DisconnectConnectionTimedOut, resultTimeout
	case errors.Is(err, context.Canceled):
		reason = apf.DisconnectByApplication
	}
	if result == "" {
		result = resultClosed
	}
	if errors.Is(err, errPeerDisconnected) || errors.Is(err, io.EOF) {
		reason = 0
	}
	return reason, result
}

// logger returns a logger with the session's identity. It is built per
// event rather than kept, so that idle sessions do not each hold one.
func (s *session) logger() *zerolog.Logger {
	c := s.g.log.With().Str("remote", s.remote)
	if s.guid != "" {
		c = c.Str("guid", s.guid)
	}
	if s.tenant != "" {
		c = c.Str("tenant", s.tenant)
	}
	l := c.Logger()
	return &l
}

func (s *session) releasePending() {
	if s.pending {
		s.pending = false
		s.g.releasePending()
	}
}
