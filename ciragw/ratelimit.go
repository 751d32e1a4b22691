package ciragw

import (
	"sync"
	"time"
)

// limiter is a set of token buckets keyed by source IP or GUID. A login
// attempt takes a token before credentials are checked and gives it back on
// success, so only failures drain the bucket, and concurrent attempts cannot
// overshoot it.
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

// take removes a token for key, reporting false when none is left.
func (l *limiter) take(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// give returns a token taken by take.
func (l *limiter) give(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets[key]; ok {
		b.tokens = min(l.burst, b.tokens+1)
	}
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
