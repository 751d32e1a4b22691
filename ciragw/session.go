package ciragw

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
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
// channel table (mux). One goroutine at a time (serve, then after each park
// the worker the poller hands it to) reads and dispatches every message, so
// the handshake fields need no lock.
type session struct {
	transport
	g       *Gateway
	tlsConn *tls.Conn
	remote  string
	ip      string

	// Owned by the reader goroutine of the moment.
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

	rd     *apf.Reader     // kept across parking
	rc     syscall.RawConn // the socket, for the poller to wait on while parked; nil: never parks
	woke   bool            // parked and woken: the next read finds bytes, or the idle deadline passed
	idleAt time.Time       // the idle deadline armed when the session parked
	resume func()          // serves on from park, on a worker
	slot   uint32          // the session's place in the poller (its lock guards it); 0: none yet
	armed  bool            // the socket is in the poller's epoll instance

	lastSeen        atomic.Int64 // unix nanoseconds of the last message received
	connectedAt     time.Time
	lastSeenWritten int64 // owned by the presence flusher
}

func newSession(g *Gateway, raw net.Conn) *session {
	remote := raw.RemoteAddr().String()
	ip, _, _ := net.SplitHostPort(remote)
	tc := tls.Server(raw, g.tlsConfig)
	s := &session{
		transport:  newTransport(raw, tc, g.cfg.WriteTimeout, g.m),
		g:          g,
		tlsConn:    tc,
		remote:     remote,
		ip:         ip,
		hsDeadline: time.Now().Add(g.cfg.HandshakeTimeout),
		pending:    true,
	}
	s.killed = func() { g.poller.unpark(s) }
	return s
}

// start runs the TLS handshake, then serves the connection until it ends or
// parks; done runs when the session has ended. The TLS handshake and the APF
// handshake (a store lookup) grow a goroutine's stack to 8 KiB or more, and a
// stack shrinks only while under a quarter is in use, which a goroutine
// blocked in tls.Conn.Read never is: so an established session does not wait
// in Read at all. Between messages it parks: its goroutine returns and the
// gateway's poller (poller_linux.go) waits for the socket, then hands the
// session to a worker (workers.go), whose stack has grown already, to serve
// what came.
func (s *session) start(ctx context.Context, wg *sync.WaitGroup, done func()) {
	if err := s.recovered(func() error { return s.tlsHandshake(ctx) }); err != nil {
		s.end(err)
		done()
		return
	}
	s.rc = rawConnOf(s.raw, s.g.poller)
	s.resume = func() { s.run(ctx, wg, done) }
	wg.Add(1)
	s.run(ctx, wg, done)
}

// run serves the session on the calling goroutine until it ends, or until it
// has nothing to read and parks.
func (s *session) run(ctx context.Context, wg *sync.WaitGroup, done func()) {
	err := s.recovered(func() error { return s.serve(ctx) })
	if errors.Is(err, errParked) {
		s.g.poller.park(s, s.idleAt)
		return
	}
	s.g.poller.release(s)
	s.end(err)
	done()
	wg.Done()
}

// recovered runs fn (the TLS handshake, then serve) so that a panic costs
// this session only: it ends as a protocol error (DISCONNECT, channels
// failed, deregistered) and the gateway serves on.
func (s *session) recovered(fn func() error) (err error) {
	defer dmmetrics.RecoverPanicLazy("cira_session", s.logger, func(v any) {
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

// serve reads and dispatches messages until the connection ends or the
// session parks (errParked).
func (s *session) serve(ctx context.Context) error {
	if s.rd == nil {
		s.rd = apf.NewReader(s, apf.Decoder{})
	}
	for {
		m, err := s.rd.Next()
		if err != nil {
			if errors.Is(err, errParked) {
				s.rd.Retry()
			}
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
// deadline until established, then the idle timeout (§6). Once established,
// where the session can park, it waits only while its channels are busy: it
// takes what TLS already holds and otherwise answers errParked, the idle
// deadline armed for the parked wait.
func (s *session) Read(p []byte) (int, error) {
	if s.state != stEstablished {
		return s.readBefore(p, s.hsDeadline)
	}
	if s.woke {
		s.woke = false // the socket is readable (or the idle deadline passed), and that deadline is armed
		return s.read(p)
	}
	now := time.Now()
	idle := now.Add(s.g.cfg.IdleTimeout)
	if s.rc == nil || s.lingering() {
		return s.readBefore(p, idle)
	}
	// While a channel carries data more comes soon: wait here for it (parking would cost a wake-up per message),
	// and park once the channels have been quiet for busyWindow.
	wait := aLongTimeAgo // nothing waits
	if busy := s.mux.lastActive().Add(busyWindow); busy.After(now) {
		wait = busy
		if idle.Before(busy) {
			wait = idle
		}
	}
	n, err := s.readBefore(p, wait)
	if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) || !time.Now().Before(idle) {
		return n, err
	}
	if err := s.armRead(idle); err != nil {
		return 0, err
	}
	s.idleAt = idle
	return 0, errParked
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
		s.event(zerolog.InfoLevel).Err(err).Msg("CIRA session ended")
		return
	}
	s.releasePending()
	s.g.m.handshakes.WithLabelValues(result).Inc()
	s.event(zerolog.InfoLevel).Err(err).Str("result", result).Msg("CIRA handshake failed")
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

// event starts a log event at level naming the session's device, or returns nil (zerolog's no-op event) when
// the level is off. The identity goes on the event, not on a logger built per call: a context logger costs a
// 500-byte buffer even for a Debug line that is never written.
func (s *session) event(level zerolog.Level) *zerolog.Event {
	e := s.g.log.WithLevel(level)
	if e == nil {
		return nil
	}
	e = e.Str("remote", s.remote)
	if s.guid != "" {
		e = e.Str("guid", s.guid)
	}
	if s.tenant != "" {
		e = e.Str("tenant", s.tenant)
	}
	return e
}

// logger is the session's event fields as a logger, for the recovery of a panic only.
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
