package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrDeposed: a leader write was refused because this replica's term ended (another replica took the leadership).
var ErrDeposed = errors.New("no longer the leader")

// Leader is one leadership among replicas (e.g. "tenant"). The replica whose session holds a session-level
// advisory lock leads; Postgres releases the lock when that session ends (crash, network loss), so another
// replica takes over at its next IsLeader. Each takeover starts a new term: the epoch in leader_terms grows by
// one. Leader writes go through Fenced, which checks the epoch in the writes' own transaction, so a replica that
// lost its session without noticing cannot write over the new leader's work.
type Leader struct {
	st     *Store
	name   string
	key    int64
	holder string

	mu    sync.Mutex
	conn  *pgxpool.Conn
	epoch int64
}

// NewLeader competes for the leadership name, whose advisory lock key is key (distinct from the migrations'),
// as holder (the replica id, recorded for errors and operators).
func (s *Store) NewLeader(name string, key int64, holder string) *Leader {
	return &Leader{st: s, name: name, key: key, holder: holder}
}

// IsLeader reports whether this replica holds the leadership, trying to take it when it does not.
func (l *Leader) IsLeader(ctx context.Context) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		if l.conn.Ping(ctx) == nil {
			return true, nil
		}
		l.dropLocked() // the session may be gone, and the lock with it
	}
	conn, err := l.st.pool.Acquire(ctx)
	if err != nil {
		return false, mapErr(err, l.name+" leadership")
	}
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", l.key).Scan(&got); err != nil {
		conn.Release()
		return false, mapErr(err, l.name+" leadership")
	}
	if !got {
		conn.Release()
		return false, nil
	}
	l.conn = conn
	// A new term. The update waits for the deposed leader's Fenced transaction, if one is still open, to end.
	err = conn.QueryRow(ctx, `
		INSERT INTO leader_terms (name, epoch, holder) VALUES ($1, 1, $2)
		ON CONFLICT (name) DO UPDATE SET epoch = leader_terms.epoch + 1, holder = EXCLUDED.holder, started_at = now()
		RETURNING epoch`, l.name, l.holder).Scan(&l.epoch)
	if err != nil {
		l.dropLocked()
		return false, mapErr(err, l.name+" leadership: start a term")
	}
	return true, nil
}

// Epoch is the term this replica was last elected for; 0 if it does not lead.
func (l *Leader) Epoch() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epoch
}

// Fenced runs fn with a Store bound to one transaction that first checks this replica's term is still the
// current one and holds that row share-locked until commit, so no other replica can start a term while fn
// runs. If the term ended, fn is not run and the error wraps ErrDeposed.
func (l *Leader) Fenced(ctx context.Context, fn func(tx *Store) error) error {
	epoch := l.Epoch()
	if epoch == 0 {
		return fmt.Errorf("store: %s leadership: %w: this replica does not lead; nothing written", l.name, ErrDeposed)
	}
	return l.st.InTx(ctx, func(tx *Store) error {
		var cur int64
		var holder string
		err := tx.db.QueryRow(ctx, `SELECT epoch, holder FROM leader_terms WHERE name = $1 FOR SHARE`, l.name).
			Scan(&cur, &holder)
		if err != nil {
			return mapErr(err, l.name+" leadership: check the term")
		}
		if cur != epoch {
			return fmt.Errorf("store: %s leadership: %w: this replica's term %d ended, term %d is held by %q; "+
				"nothing written, the current leader carries on", l.name, ErrDeposed, epoch, cur, holder)
		}
		return fn(tx)
	})
}

// Close gives leadership up. The lock is released explicitly first: closing the session alone frees it only once
// the server has noticed the disconnect, so another replica asking at once could still be refused.
func (l *Leader) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = l.conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", l.key) // best effort: the session close below frees it anyway
	l.dropLocked()
}

// dropLocked closes the lock's session instead of returning it to the pool, so the lock can never linger on a
// pooled connection.
func (l *Leader) dropLocked() {
	c := l.conn.Hijack()
	l.conn, l.epoch = nil, 0
	_ = c.Close(context.Background())
}
