package tenant

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// LeaderLockKey is the Postgres advisory lock of tenant leadership (ASCII "dmm_tnnt"; the store's migrations use
// "dmm_migr").
const LeaderLockKey int64 = 0x646d6d5f746e6e74

// PgLeader holds a session-level advisory lock on one connection taken out of the pool: the replica whose session
// holds it is the leader, and Postgres releases it when that session ends (crash, network loss), so another
// replica takes over at its next check.
type PgLeader struct {
	pool *pgxpool.Pool
	key  int64

	mu   sync.Mutex
	conn *pgxpool.Conn
}

// NewPgLeader competes for key on the pool's database.
func NewPgLeader(pool *pgxpool.Pool, key int64) *PgLeader { return &PgLeader{pool: pool, key: key} }

// IsLeader reports whether this replica holds the lock, trying to take it when it does not.
func (l *PgLeader) IsLeader(ctx context.Context) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		if l.conn.Ping(ctx) == nil {
			return true, nil
		}
		l.dropLocked() // the session may be gone, and the lock with it
	}
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("tenant leadership: %w", err)
	}
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", l.key).Scan(&got); err != nil {
		conn.Release()
		return false, fmt.Errorf("tenant leadership: %w", err)
	}
	if !got {
		conn.Release()
		return false, nil
	}
	l.conn = conn
	return true, nil
}

// Close gives leadership up. The lock is released explicitly first: closing the session alone frees it only once
// the server has noticed the disconnect, so another replica asking at once could still be refused.
func (l *PgLeader) Close() {
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
func (l *PgLeader) dropLocked() {
	c := l.conn.Hijack()
	l.conn = nil
	_ = c.Close(context.Background())
}
