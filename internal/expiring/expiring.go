// Package expiring holds answers that are dear to compute and safe to reuse for a while: verified tokens, RBAC
// decisions, project names resolved with the Tenant Manager. A request that finds one does not pay for it again.
package expiring

import (
	"sync"
	"time"
)

// Map is a bounded map whose entries expire; safe for concurrent use. When it is full it is emptied rather than
// ordered by age: an answer lost costs one recomputation, and the map never grows past its bound whatever keys
// callers bring.
type Map[K comparable, V any] struct {
	size int

	mu sync.Mutex
	m  map[K]entry[V]
}

type entry[V any] struct {
	v     V
	until time.Time
}

// New returns a Map holding at most size entries.
func New[K comparable, V any](size int) *Map[K, V] {
	return &Map[K, V]{size: max(size, 1), m: map[K]entry[V]{}}
}

// Get returns the value stored for k if it is still valid at now.
func (m *Map[K, V]) Get(k K, now time.Time) (V, bool) {
	m.mu.Lock()
	e, ok := m.m[k]
	m.mu.Unlock()
	if !ok || !now.Before(e.until) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Put stores v for k, valid before until.
func (m *Map[K, V]) Put(k K, v V, until time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.m[k]; !ok && len(m.m) >= m.size {
		clear(m.m)
	}
	m.m[k] = entry[V]{v: v, until: until}
}
