package ciragw

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// PresenceState is a device's CIRA connection state.
type PresenceState string

// Presence states.
const (
	PresenceConnected    PresenceState = "connected"
	PresenceDisconnected PresenceState = "disconnected"
)

// Presence is one device's latest connection state. At is when State began;
// LastSeen is the last traffic from the device. A record with an unchanged
// State and At only refreshes LastSeen.
type Presence struct {
	GUID     string
	Tenant   string
	State    PresenceState
	At       time.Time
	LastSeen time.Time
	Remote   string
}

// PresenceWriter persists presence in batches (cmd backs it with the device
// store). Only the latest record per GUID is written: changes are coalesced,
// and last-seen is refreshed at most every Config.LastSeenInterval, never per
// keepalive (MPS's per-keepalive DB update costs N/15 queries/s, §12).
type PresenceWriter interface {
	WritePresence(ctx context.Context, batch []Presence) error
}

// EventKind says what happened to a device's session.
type EventKind uint8

// Event kinds.
const (
	Connected EventKind = iota + 1
	Disconnected
)

func (k EventKind) String() string {
	switch k {
	case Connected:
		return "connected"
	case Disconnected:
		return "disconnected"
	}
	return "unknown"
}

// Event is a session change delivered to subscribers. A reconnect that
// replaces a live session is Disconnected then Connected.
type Event struct {
	GUID   string
	Tenant string
	Kind   EventKind
	At     time.Time
}

// Subscribe returns a buffered channel of session events and a function that
// ends the subscription and closes the channel (the channel is also closed
// when Serve returns). A subscriber that falls behind loses events, counted
// in dm_manager_ciragw_subscriber_events_dropped_total: the gateway never waits for it,
// so subscribers should resynchronise periodically from Sessions.
func (g *Gateway) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, g.cfg.SubscriberBuffer)
	g.hub.mu.Lock()
	if g.hub.closed {
		close(ch)
	} else {
		g.hub.subs[ch] = struct{}{}
	}
	g.hub.mu.Unlock()
	return ch, func() { g.hub.remove(ch) }
}

type hub struct {
	mu     sync.RWMutex
	subs   map[chan Event]struct{}
	closed bool
}

func (h *hub) emit(ev Event, m *metrics) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for ch := range h.subs {
		select {
		case ch <- ev:
		default:
			m.subscriberDrop.Inc()
		}
	}
}

func (h *hub) remove(ch chan Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[ch]; ok {
		delete(h.subs, ch)
		close(ch)
	}
}

func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		close(ch)
	}
	h.subs = nil
	h.closed = true
}

// presenceWriteTimeout bounds one PresenceWriter call, so that a stuck store
// does not stall housekeeping.
const presenceWriteTimeout = 30 * time.Second

// presenceQueue holds presence changes not yet written, one per GUID.
type presenceQueue struct {
	mu      sync.Mutex
	pending map[string]Presence
	kick    chan struct{}
}

func (g *Gateway) notePresence(p Presence) {
	if g.cfg.Presence == nil {
		return
	}
	q := &g.presence
	q.mu.Lock()
	q.pending[p.GUID] = p
	full := len(q.pending) >= g.cfg.PresenceBatchSize
	q.mu.Unlock()
	if full {
		select {
		case q.kick <- struct{}{}:
		default:
		}
	}
}

// flushPresence writes the pending batch. On failure the records are queued
// again unless a newer one for the same GUID arrived meanwhile.
func (g *Gateway) flushPresence(ctx context.Context) {
	if g.cfg.Presence == nil {
		return
	}
	q := &g.presence
	q.mu.Lock()
	batch := make([]Presence, 0, len(q.pending))
	for _, p := range q.pending {
		batch = append(batch, p)
	}
	clear(q.pending)
	q.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	slices.SortFunc(batch, func(a, b Presence) int { return strings.Compare(a.GUID, b.GUID) })
	wctx, cancel := context.WithTimeout(ctx, presenceWriteTimeout)
	err := g.cfg.Presence.WritePresence(wctx, batch)
	cancel()
	if err != nil {
		g.m.presenceWrites.WithLabelValues("error").Inc()
		g.log.Warn().Err(err).Int("records", len(batch)).Msg("writing CIRA presence failed; will retry")
		q.mu.Lock()
		for _, p := range batch {
			if _, newer := q.pending[p.GUID]; !newer {
				q.pending[p.GUID] = p
			}
		}
		q.mu.Unlock()
		return
	}
	g.m.presenceWrites.WithLabelValues("ok").Inc()
}

// housekeep runs the gateway's two timers: presence is flushed every PresenceFlushInterval (or when a batch
// fills); every SweepInterval due last-seen refreshes are queued, the login rate limiters pruned and idle
// channels closed.
func (g *Gateway) housekeep(ctx context.Context) {
	flush := time.NewTicker(g.cfg.PresenceFlushInterval)
	defer flush.Stop()
	sweep := time.NewTicker(g.cfg.SweepInterval)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.presence.kick:
			g.flushPresence(ctx)
		case <-flush.C:
			g.flushPresence(ctx)
		case now := <-sweep.C:
			g.sweep(now)
		}
	}
}

func (g *Gateway) sweep(now time.Time) {
	g.ipLimit.prune(now)
	g.guidLimit.prune(now)
	every := g.cfg.LastSeenInterval.Nanoseconds()
	// Last-seen refreshes are queued under the registry lock, so that a
	// session deregistering concurrently queues its disconnect after them.
	g.mu.RLock()
	all := make([]*session, 0, len(g.sessions))
	for _, s := range g.sessions {
		all = append(all, s)
		if seen := s.lastSeen.Load(); seen-s.lastSeenWritten >= every {
			s.lastSeenWritten = seen
			g.notePresence(Presence{GUID: s.guid, Tenant: s.tenant, State: PresenceConnected,
				At: s.connectedAt, LastSeen: time.Unix(0, seen), Remote: s.remote})
		}
	}
	g.mu.RUnlock()
	for _, s := range all {
		s.mux.reapIdle(now, g.cfg.ChannelIdleTimeout)
	}
}
