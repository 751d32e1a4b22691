package tenant

import (
	"context"

	"github.com/dmrm/dm-manager/internal/store"
)

// LeaderLockKey is the Postgres advisory lock of tenant leadership (ASCII "dmm_tnnt"; the store's migrations use
// "dmm_migr").
const LeaderLockKey int64 = 0x646d6d5f746e6e74

// LeaderName names the tenant leadership's term in the store (leader_terms).
const LeaderName = "tenant"

// PgLeader is tenant leadership over the store's fenced leader (store.Leader): the replica holding the advisory
// lock leads, and every write it makes runs in a transaction that checks its term is still current.
type PgLeader struct{ l *store.Leader }

// NewPgLeader competes for tenant leadership as replica.
func NewPgLeader(st *store.Store, replica string) *PgLeader {
	return &PgLeader{l: st.NewLeader(LeaderName, LeaderLockKey, replica)}
}

// IsLeader reports whether this replica leads, taking the leadership (a new term) when it is free.
func (p *PgLeader) IsLeader(ctx context.Context) (bool, error) { return p.l.IsLeader(ctx) }

// Fenced runs fn with the store bound to a transaction that commits only within this replica's term.
func (p *PgLeader) Fenced(ctx context.Context, fn func(Store) error) error {
	return p.l.Fenced(ctx, func(tx *store.Store) error { return fn(tx) })
}

// Close gives leadership up.
func (p *PgLeader) Close() { p.l.Close() }
