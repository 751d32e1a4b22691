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

// disconnectWriteTimeout bounds the courtesy DISCONNECT written before a
// connection is dropped.
const disconnectWriteTimeout = time.Second

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

// session is one device's CIRA connection. A single goroutine (serve) reads
// and dispatches every message, so the handshake fields need no lock; writes come
// from that goroutine and from channel users, serialised by wlock.
type session struct {
	g      *Gateway
	raw    net.Conn
	conn   *tls.Conn
	remote string
	ip     string

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

	wlock chan struct{} // write lock; a channel so that kill can wait for it with a timeout

	mu       sync.Mutex
	channels map[uint32]*channel
	nextID   uint32
	opens    uint32 // originator port counter (§2.3)
	ended    bool

	tlsDone         atomic.Bool // TLS handshake complete: a DISCONNECT can be written
	killOnce        sync.Once
	lingerUntil     atomic.Int64 // unix nanoseconds; set once DISCONNECT was sent
	lastSeen        atomic.Int64 // unix nanoseconds of the last message received
	connectedAt     time.Time
	lastSeenWritten int64 // owned by the presence flusher
}

func newSession(g *Gateway, raw net.Conn) *session {
	remote := raw.RemoteAddr().String()
	ip, _, _ := net.SplitHostPort(remote)
	return &session{
		g:          g,
		raw:        raw,
		conn:       tls.Server(raw, g.tlsConfig),
		remote:     remote,
		ip:         ip,
		hsDeadline: time.Now().Add(g.cfg.HandshakeTimeout),
		pending:    true,
		wlock:      make(chan struct{}, 1),
		nextID:     1,
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
	if err := s.conn.HandshakeContext(hctx); err != nil {
		s.hsResult = resultTLSError
		if errors.Is(hctx.Err(), context.DeadlineExceeded) {
			s.hsResult = resultTimeout
		}
		return fmt.Errorf("TLS handshake: %w", err)
	}
	s.tlsDone.Store(true)
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
// deadline until established, then the idle timeout (§6). The deadline lives
// in the runtime poller, so idle sessions own no timers of their own.
func (s *session) Read(p []byte) (int, error) {
	d := s.hsDeadline
	if s.state == stEstablished {
		d = time.Now().Add(s.g.cfg.IdleTimeout)
	}
	if err := s.raw.SetReadDeadline(d); err != nil {
		return 0, err
	}
	// kill may have set its linger deadline just before ours.
	if l := s.lingerUntil.Load(); l != 0 {
		if err := s.raw.SetReadDeadline(time.Unix(0, l)); err != nil {
			return 0, err
		}
	}
	n, err := s.conn.Read(p)
	s.g.m.bytesIn.Add(float64(n))
	return n, err
}

var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// send writes one message. A failed write ends the session: after a write
// error or timeout the TLS stream is unusable.
func (s *session) send(m apf.Message) error {
	bp := writeBufs.Get().(*[]byte)
	b := m.AppendTo((*bp)[:0])
	s.wlock <- struct{}{}
	err := s.raw.SetWriteDeadline(time.Now().Add(s.g.cfg.WriteTimeout))
	if err == nil {
		var n int
		n, err = s.conn.Write(b)
		s.g.m.bytesOut.Add(float64(n))
	}
	<-s.wlock
	if cap(b) <= 2*maxSendPacket {
		*bp = b
		writeBufs.Put(bp)
	}
	if err != nil {
		s.kill(0)
		return fmt.Errorf("%w: writing to device: %w", ErrSessionClosed, err)
	}
	return nil
}

// kill ends the connection once. With a reason it first writes DISCONNECT
// (waiting for a busy writer up to disconnectWriteTimeout) and half-closes:
// closing a socket with unread input resets it, and the device would lose
// the DISCONNECT, so the input is drained until the device closes or
// disconnectWriteTimeout passes. Without a reason, or if the DISCONNECT
// cannot be written, the socket is closed at once. Either way serve ends;
// kill itself never blocks longer than disconnectWriteTimeout.
func (s *session) kill(reason apf.DisconnectReason) {
	s.killOnce.Do(func() {
		linger := time.Now().Add(disconnectWriteTimeout)
		if reason != 0 && s.tlsDone.Load() && s.lockBefore(linger) {
			err := s.raw.SetWriteDeadline(linger)
			if err == nil {
				_, err = s.conn.Write(apf.Marshal(apf.Disconnect{Reason: reason}))
			}
			hc, ok := s.raw.(interface{ CloseWrite() error })
			if err == nil && ok && hc.CloseWrite() == nil {
				s.lingerUntil.Store(linger.UnixNano())
				err = s.raw.SetReadDeadline(linger)
			}
			<-s.wlock
			if err == nil && ok {
				return
			}
		}
		_ = s.raw.Close()
	})
}

// lockBefore takes the write lock unless deadline passes first.
func (s *session) lockBefore(deadline time.Time) bool {
	select {
	case s.wlock <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case s.wlock <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

// lingering reports whether kill is draining the input before closing.
func (s *session) lingering() bool { return s.lingerUntil.Load() != 0 }

// end runs once the session's goroutine is done: it says goodbye as the error deserves, fails the
// channels and updates registry, metrics and logs.
func (s *session) end(err error) {
	reason, result := s.classify(err)
	s.kill(reason)
	if s.lingering() {
		_, _ = io.Copy(io.Discard, s.raw)
	}
	_ = s.raw.Close()

	s.mu.Lock()
	s.ended = true
	chans := s.channels
	s.channels = nil
	s.mu.Unlock()
	for _, c := range chans {
		c.finish(fmt.Errorf("%w: %w", ErrSessionClosed, err), nil)
	}

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
