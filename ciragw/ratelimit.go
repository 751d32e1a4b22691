package ciragw

import (
	"context"
	"sync"
	"time"
)

// limiter is a set of token buckets keyed by source IP or GUID that only
// failed logins drain. A login checks that a token is left before its
// credentials are looked at (allow) and is charged only when they are refused
// (charge), so any number of good logins in flight from one NAT'd site costs
// nothing. Failures of logins that were already in flight when the bucket ran
// dry are charged all the same and may drive it below zero; that debt is paid
// back at the refill rate, so the long-run failure rate stays within the limit,
// and loginQueue bounds the overshoot per source IP.
type limiter struct {
	mu      sync.Mutex
	burst   float64
	every   time.Duration
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(rl RateLimit) *limiter {
	return &limiter{burst: float64(rl.Burst), every: rl.Every, buckets: make(map[string]*bucket)}
}

func (l *limiter) refill(b *bucket, now time.Time) {
	if l.every > 0 {
		b.tokens = min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.every))
	}
	b.at = now
}

// allow reports whether key has a token left, taking none. A key never
// charged has no bucket, and good logins create none.
func (l *limiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return true
	}
	l.refill(b, now)
	return b.tokens >= 1
}

// charge takes a token from key for a refused login.
func (l *limiter) charge(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	b.tokens--
}

// prune forgets full buckets, which behave exactly like absent ones.
func (l *limiter) prune(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// loginQueue lets at most limit logins from one source IP be authenticated
// at once; the others wait their turn within the handshake deadline rather
// than being refused, since a site's devices share its address. It bounds the
// guesses one address has in flight, hence how far past its failure budget
// it can go before the first refusals are charged, and keeps one address from
// holding every Authenticator call.
type loginQueue struct {
	mu    sync.Mutex
	limit int
	ips   map[string]*turns
}

type turns struct {
	slots chan struct{}
	users int // holders and waiters; the entry goes with the last of them
}

func newLoginQueue(limit int) *loginQueue {
	return &loginQueue{limit: limit, ips: make(map[string]*turns)}
}

// enter waits for a turn of ip until ctx is done; leave gives it back.
func (q *loginQueue) enter(ctx context.Context, ip string) error {
	q.mu.Lock()
	t, ok := q.ips[ip]
	if !ok {
		t = &turns{slots: make(chan struct{}, q.limit)}
		q.ips[ip] = t
	}
	t.users++
	q.mu.Unlock()
	select {
	case t.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		q.done(ip, t)
		return ctx.Err()
	}
}

func (q *loginQueue) leave(ip string) {
	q.mu.Lock()
	t := q.ips[ip]
	q.mu.Unlock()
	<-t.slots
	q.done(ip, t)
}

func (q *loginQueue) done(ip string, t *turns) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if t.users--; t.users == 0 {
		delete(q.ips, ip)
	}
}
