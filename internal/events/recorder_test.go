package events_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/events"
	"github.com/dmrm/dm-manager/internal/store"
)

// memTrail stands in for the store where the test is about the recorder's own behaviour (batching, drops,
// pruning cut); internal/store tests the SQL against Postgres.
type memTrail struct {
	mu      sync.Mutex
	recs    []store.EventRecord
	fail    error
	block   chan struct{}
	pruned  []time.Time
	batches int
}

func (m *memTrail) InsertEvents(ctx context.Context, batch []store.EventRecord) error {
	if m.block != nil {
		select {
		case <-m.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.batches++
	m.recs = append(m.recs, batch...)
	return nil
}

func (m *memTrail) PruneEvents(_ context.Context, before time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pruned = append(m.pruned, before)
	return 0, nil
}

func (m *memTrail) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.recs)
}

func TestRecorderWritesPrunesAndNeverBlocks(t *testing.T) {
	m, reg := newMetrics(t)
	trail := &memTrail{block: make(chan struct{})}
	now := time.Date(2026, 1, 8, 0, 0, 0, 0, time.UTC)
	rec, err := events.NewRecorder(events.RecorderConfig{Trail: trail, Retention: 7 * 24 * time.Hour, BufferSize: 10,
		BatchSize: 4, Now: func() time.Time { return now }, Metrics: m, Log: zerolog.Nop()})
	require.NoError(t, err)
	defer rec.Close()

	// The database hangs: the writer holds at most one batch (4), ten wait in the buffer, the rest are dropped.
	for range 20 {
		rec.Emit(events.Event{Kind: events.PowerDone, Tenant: "t", GUID: "g"})
	}
	dropped := value(t, reg, "dm_manager_events_dropped_total", "sink", "store", "reason", "buffer_full")
	require.GreaterOrEqual(t, dropped, 6.0)
	close(trail.block)
	require.Eventually(t, func() bool { return float64(trail.count()) == 20-dropped }, 5*time.Second, time.Millisecond)
	require.Equal(t, 20-dropped, value(t, reg, "dm_manager_events_published_total", "sink", "store"))
	trail.mu.Lock()
	require.LessOrEqual(t, trail.batches, 4, "written in batches")
	require.Equal(t, now.Add(-7*24*time.Hour), trail.pruned[0], "pruned at start, by retention")
	p, err := events.ParsePayload(trail.recs[0].Payload)
	require.NoError(t, err)
	require.Equal(t, trail.recs[0].ID, p.ID, "the payload carries the trail's id")
	trail.fail = errors.New("db down")
	trail.mu.Unlock()

	rec.Emit(events.Event{Kind: events.PowerDone, Tenant: "t", GUID: "g"})
	require.Eventually(t, func() bool {
		return value(t, reg, "dm_manager_events_dropped_total", "sink", "store", "reason", "failed") == 1
	}, 5*time.Second, time.Millisecond)
}
