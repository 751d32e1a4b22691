package ciragw

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/ciragw/apf"
)

// finalFlushTimeout bounds the presence write after shutdown.
const finalFlushTimeout = 5 * time.Second

// workerLinger is how long a worker (workers.go) waits for its next job before it ends: at a few wake-ups a
// second, as a fleet's keepalives are, the workers in use never end.
const workerLinger = 2 * time.Second

// Gateway is the CIRA server: it accepts AMT connections, runs the APF
// handshake, keeps one session per device GUID and opens channels to AMT
// ports on demand.
type Gateway struct {
	cfg          Config
	log          zerolog.Logger
	m            *metrics
	tlsConfig    *tls.Config
	ipLimit      *limiter
	guidLimit    *limiter
	logins       *loginQueue
	keys         *keyGate
	workers      *workers
	poller       *poller // nil: sessions never park (not Linux, or no epoll instance)
	pendingSlots chan struct{}
	served       atomic.Bool

	mu       sync.RWMutex
	sessions map[string]*session // established sessions by GUID
	all      map[*session]struct{}
	closing  bool
	wg       sync.WaitGroup

	hub      hub
	presence presenceQueue
	muxCfg   muxConfig
}

// SessionInfo describes an established session.
type SessionInfo struct {
	GUID        string
	Tenant      string
	Remote      string
	ConnectedAt time.Time
	LastSeen    time.Time
	Channels    int
}

// New validates cfg and returns a Gateway; Serve runs it.
func New(cfg Config) (*Gateway, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	m := newMetrics(cfg.Registerer)
	keys := &keyGate{turns: make(chan struct{}, cfg.MaxConcurrentTLSKeyOps), waiting: m.tlsKeyWaiting}
	g := &Gateway{
		cfg:          cfg,
		log:          cfg.Logger.With().Str("component", "ciragw").Logger(),
		m:            m,
		tlsConfig:    serverTLSConfig(&cfg, keys),
		keys:         keys,
		workers:      newWorkers(workerLinger),
		ipLimit:      newLimiter(cfg.LoginFailuresPerIP),
		guidLimit:    newLimiter(cfg.LoginFailuresPerGUID),
		logins:       newLoginQueue(cfg.LoginsInFlightPerIP),
		pendingSlots: make(chan struct{}, cfg.MaxPendingHandshakes),
		sessions:     make(map[string]*session),
		all:          make(map[*session]struct{}),
	}
	g.muxCfg = muxConfig{window: cfg.ChannelWindow, maxChannels: cfg.MaxChannelsPerDevice, openTimeout: cfg.OpenTimeout, m: m}
	g.hub.subs = make(map[chan Event]struct{})
	g.presence.pending = make(map[string]Presence)
	g.presence.kick = make(chan struct{}, 1)
	return g, nil
}

// Serve accepts CIRA connections on ln (plain TCP; TLS is done here) until
// ctx is done, then sends DISCONNECT to every device, waits for the sessions
// to end, writes the last presence batch and returns nil. A Gateway serves
// once.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	if g.served.Swap(true) {
		return errors.New("ciragw: Gateway.Serve called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()

	if p, err := newPoller(g.resumeParked, sweepInterval(g.cfg.IdleTimeout)); err != nil {
		g.log.Warn().Err(err).Msg("idle sessions wait on a goroutine each")
	} else {
		g.poller = p
	}
	hkDone := make(chan struct{})
	go func() {
		defer close(hkDone)
		g.housekeep(ctx)
	}()
	g.log.Info().Str("addr", ln.Addr().String()).Msg("CIRA gateway listening")

	err := g.acceptLoop(ctx, ln)
	cancel()
	g.shutdown()
	<-hkDone
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), finalFlushTimeout)
	g.flushPresence(fctx)
	fcancel()
	g.hub.closeAll()
	return err
}

func (g *Gateway) acceptLoop(ctx context.Context, ln net.Listener) error {
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if retryableAccept(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				g.log.Warn().Err(err).Dur("retry_in", backoff).Msg("accept failed")
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("ciragw: accepting CIRA connections: %w", err)
		}
		backoff = 0
		g.accept(ctx, conn)
	}
}

// retryableAccept tells accept errors that pass (descriptor or memory
// exhaustion, aborted connections) from a dead listener.
func retryableAccept(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() ||
		errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOBUFS) ||
		errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.ECONNABORTED)
}

func (g *Gateway) accept(ctx context.Context, conn net.Conn) {
	select {
	case g.pendingSlots <- struct{}{}:
	default:
		g.m.handshakes.WithLabelValues(resultOverloaded).Inc()
		_ = conn.Close()
		return
	}
	s := newSession(g, conn)
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		_ = conn.Close()
		g.releasePending()
		return
	}
	g.all[s] = struct{}{}
	g.wg.Add(1)
	g.mu.Unlock()
	g.m.pending.Inc()
	g.workers.do(func() {
		defer g.wg.Done()
		s.start(ctx, &g.wg, func() {
			g.mu.Lock()
			delete(g.all, s)
			g.mu.Unlock()
		})
	})
}

// resumeParked hands a session the poller woke to a worker: its next read finds bytes, or its idle deadline
// passed, or it was killed.
func (g *Gateway) resumeParked(s *session) {
	s.woke = true
	g.workers.do(s.resume)
}

func (g *Gateway) releasePending() {
	<-g.pendingSlots
	g.m.pending.Dec()
}

// shutdown says DISCONNECT BY_APPLICATION to every connection and waits for
// the sessions to end.
func (g *Gateway) shutdown() {
	g.mu.Lock()
	g.closing = true
	all := make([]*session, 0, len(g.all))
	for s := range g.all {
		all = append(all, s)
	}
	g.mu.Unlock()
	for _, s := range all {
		go s.kill(apf.DisconnectByApplication)
	}
	g.wg.Wait()
	g.poller.close()
	g.workers.close()
	g.log.Info().Int("sessions", len(all)).Msg("CIRA gateway stopped")
}

// register makes s the device's session, replacing (and disconnecting) an
// older one, as MPS does on a reconnect (§7).
func (g *Gateway) register(s *session) {
	s.lastSeenWritten = s.connectedAt.UnixNano()
	g.mu.Lock()
	old := g.sessions[s.guid]
	g.sessions[s.guid] = s
	g.mu.Unlock()
	if old != nil {
		old.event(zerolog.InfoLevel).Str("new_remote", s.remote).Msg("CIRA session replaced by a new connection")
		go old.kill(apf.DisconnectByApplication)
		g.hub.emit(Event{GUID: old.guid, Tenant: old.tenant, Kind: Disconnected, At: s.connectedAt}, g.m)
	} else {
		g.m.sessions.Inc()
	}
	g.hub.emit(Event{GUID: s.guid, Tenant: s.tenant, Kind: Connected, At: s.connectedAt}, g.m)
	g.notePresence(Presence{GUID: s.guid, Tenant: s.tenant, State: PresenceConnected,
		At: s.connectedAt, LastSeen: s.connectedAt, Remote: s.remote})
}

// deregister removes s if it is still the device's session; a replaced
// session leaves no trace.
func (g *Gateway) deregister(s *session) {
	g.mu.Lock()
	current := g.sessions[s.guid] == s
	if current {
		delete(g.sessions, s.guid)
	}
	g.mu.Unlock()
	if !current {
		return
	}
	now := time.Now()
	g.m.sessions.Dec()
	g.hub.emit(Event{GUID: s.guid, Tenant: s.tenant, Kind: Disconnected, At: now}, g.m)
	g.notePresence(Presence{GUID: s.guid, Tenant: s.tenant, State: PresenceDisconnected,
		At: now, LastSeen: time.Unix(0, s.lastSeen.Load()), Remote: s.remote})
}

func (g *Gateway) lookup(guid string) *session {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.sessions[strings.ToLower(guid)]
}

// OpenChannel opens an APF channel to port (16992 for WS-Man) on the device
// and returns it as a net.Conn with deadlines. Errors: ErrDeviceNotConnected,
// ErrTooManyChannels, *OpenError with AMT's reason, or a timeout/cancellation.
func (g *Gateway) OpenChannel(ctx context.Context, guid string, port uint16) (net.Conn, error) {
	s := g.lookup(guid)
	if s == nil {
		g.m.channelOpens.WithLabelValues(openNoDevice).Inc()
		return nil, fmt.Errorf("%w: %s", ErrDeviceNotConnected, strings.ToLower(guid))
	}
	return s.mux.openChannel(ctx, port)
}

// Session describes the device's established session, if any.
func (g *Gateway) Session(guid string) (SessionInfo, bool) {
	s := g.lookup(guid)
	if s == nil {
		return SessionInfo{}, false
	}
	return s.info(), true
}

// Sessions describes every established session.
func (g *Gateway) Sessions() []SessionInfo {
	g.mu.RLock()
	all := make([]*session, 0, len(g.sessions))
	for _, s := range g.sessions {
		all = append(all, s)
	}
	g.mu.RUnlock()
	out := make([]SessionInfo, len(all))
	for i, s := range all {
		out[i] = s.info()
	}
	return out
}

// Disconnect ends the device's session (DISCONNECT BY_APPLICATION); AMT
// reconnects on its own schedule. It reports whether there was a session.
func (g *Gateway) Disconnect(guid string) bool {
	s := g.lookup(guid)
	if s != nil {
		s.kill(apf.DisconnectByApplication)
	}
	return s != nil
}

// ObserveWSManLatency records one WS-Man round trip in the latency
// histogram; the WS-Man client over CIRA calls it.
func (g *Gateway) ObserveWSManLatency(d time.Duration) { g.m.wsmanLatency.Observe(d.Seconds()) }

func (s *session) info() SessionInfo {
	return SessionInfo{GUID: s.guid, Tenant: s.tenant, Remote: s.remote, ConnectedAt: s.connectedAt,
		LastSeen: time.Unix(0, s.lastSeen.Load()), Channels: s.mux.count()}
}
