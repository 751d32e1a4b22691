package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const testLeaderKey int64 = 0x746573745f6c6472

// killSession ends the leader's lock session from outside, as a crash or network loss would, without the leader
// noticing.
func killSession(t *testing.T, s *Store, l *Leader) {
	t.Helper()
	l.mu.Lock()
	pid := l.conn.Conn().PgConn().PID()
	l.mu.Unlock()
	var ok bool
	require.NoError(t, s.pool.QueryRow(context.Background(), "SELECT pg_terminate_backend($1)", pid).Scan(&ok))
	require.True(t, ok)
}

func TestLeaderTermsFenceWrites(t *testing.T) {
	ctx := context.Background()
	s := openMigrated(t)
	a, b := s.NewLeader("test", testLeaderKey, "replica-a"), s.NewLeader("test", testLeaderKey, "replica-b")
	t.Cleanup(a.Close)
	t.Cleanup(b.Close)

	require.ErrorIs(t, a.Fenced(ctx, func(*Store) error { return nil }), ErrDeposed, "not elected yet")
	lead, err := a.IsLeader(ctx)
	require.NoError(t, err)
	require.True(t, lead)
	require.EqualValues(t, 1, a.Epoch())
	lead, err = b.IsLeader(ctx)
	require.NoError(t, err)
	require.False(t, lead)
	tenant := "11111111-1111-1111-1111-111111111111"
	require.NoError(t, a.Fenced(ctx, func(tx *Store) error {
		_, err := tx.UpsertTenant(ctx, Tenant{ID: tenant, CIRAServerAddress: "by-a:4433"})
		return err
	}))

	// a's session dies unnoticed; b takes over with term 2; a's next write is refused and changes nothing.
	killSession(t, s, a)
	require.Eventually(t, func() bool {
		lead, err := b.IsLeader(ctx)
		return err == nil && lead
	}, 10*time.Second, 20*time.Millisecond)
	require.EqualValues(t, 2, b.Epoch())
	err = a.Fenced(ctx, func(tx *Store) error {
		_, err := tx.UpsertTenant(ctx, Tenant{ID: tenant, CIRAServerAddress: "late-by-a:4433"})
		return err
	})
	require.ErrorIs(t, err, ErrDeposed)
	require.ErrorContains(t, err, `term 1 ended, term 2 is held by "replica-b"`)
	got, err := s.GetTenant(ctx, tenant)
	require.NoError(t, err)
	require.Equal(t, "by-a:4433", got.CIRAServerAddress, "the deposed leader's write did not happen")

	// a notices at its next check and competes again without leading.
	lead, err = a.IsLeader(ctx)
	require.NoError(t, err)
	require.False(t, lead)
	require.Zero(t, a.Epoch())
}

// A new term cannot start while the previous leader's fenced transaction is open, so a write that passed its
// check can never land after the new leader began.
func TestNewTermWaitsForFencedWrite(t *testing.T) {
	ctx := context.Background()
	s := openMigrated(t)
	a, b := s.NewLeader("test", testLeaderKey, "replica-a"), s.NewLeader("test", testLeaderKey, "replica-b")
	t.Cleanup(a.Close)
	t.Cleanup(b.Close)
	lead, err := a.IsLeader(ctx)
	require.NoError(t, err)
	require.True(t, lead)

	inside, release := make(chan struct{}), make(chan struct{})
	fenced := make(chan error, 1)
	go func() {
		fenced <- a.Fenced(ctx, func(*Store) error {
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	killSession(t, s, a)
	elected := make(chan bool, 1)
	go func() {
		for {
			lead, err := b.IsLeader(ctx)
			if err != nil || lead {
				elected <- lead
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	select {
	case <-elected:
		t.Fatal("a new term started while the old leader's fenced write was open")
	case <-time.After(500 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-fenced, "the write made in term 1 commits")
	require.True(t, <-elected)
	require.EqualValues(t, 2, b.Epoch())
}
