package queue

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

type id string

func (i id) String() string { return string(i) }

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout bounds every wait of these tests: a lost wake-up fails the test instead of hanging it.
const waitTimeout = 10 * time.Second

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitTimeout):
		t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
	}
}

// waitIdle waits until every request handed to the controller has been reconciled.
func waitIdle(t *testing.T, q *Queue[id]) {
	t.Helper()
	idle := make(chan struct{})
	go func() { q.inflight.Wait(); close(idle) }()
	wait(t, idle, "the queue to drain")
}

func TestRequeueAndAfter(t *testing.T) {
	var n atomic.Int32
	done := make(chan struct{})
	q := New(func(_ context.Context, _ id) Result {
		switch n.Add(1) {
		case 1:
			return Result{Requeue: true}
		case 2:
			return Result{After: 10 * time.Millisecond}
		case 3:
			close(done)
		}
		return Result{}
	}, Options{Parallelism: 3})
	defer q.Stop()
	q.Enqueue("a")
	wait(t, done, "the third reconcile")
}

func TestErrorBackoff(t *testing.T) {
	q := &Queue[id]{opts: Options{BackoffMin: time.Second, BackoffMax: 10 * time.Second}}
	for attempt, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
		require.Equal(t, want, q.backoff(attempt), "attempt %d", attempt)
	}

	var n atomic.Int32
	done := make(chan struct{})
	q = New(func(_ context.Context, _ id) Result {
		if n.Add(1) < 3 {
			return Result{Err: errors.New("unreachable")}
		}
		close(done)
		return Result{}
	}, Options{BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond})
	defer q.Stop()
	q.Enqueue("a")
	wait(t, done, "the third reconcile")
}

// One timer per ID: the earliest wins, later ones are dropped (the reconcile then says when to look again).
func TestEnqueueAfterKeepsEarliest(t *testing.T) {
	runs := make(chan time.Time, 10)
	q := New(func(_ context.Context, _ id) Result {
		runs <- time.Now()
		return Result{}
	}, Options{})
	defer q.Stop()
	start := time.Now()
	q.EnqueueAfter("a", time.Hour)
	q.EnqueueAfter("a", 20*time.Millisecond)
	q.EnqueueAfter("a", 30*time.Minute)
	var at time.Time
	select {
	case at = <-runs:
	case <-time.After(waitTimeout):
		t.Fatal("the earliest timer never fired")
	}
	require.Less(t, at.Sub(start), time.Minute)
	q.mu.Lock()
	require.Empty(t, q.timers, "the later timers were dropped")
	q.mu.Unlock()
}

// Stop with timers pending and a reconcile in progress: the reconcile's context is cancelled, timers never fire
// into the stopped controller, later enqueues are ignored, and no goroutine is left (TestMain).
func TestStopIsSafe(t *testing.T) {
	started := make(chan struct{})
	var cancelled atomic.Bool
	q := New(func(ctx context.Context, i id) Result {
		if i == "slow" {
			close(started)
			<-ctx.Done()
			cancelled.Store(true)
			return Result{After: time.Millisecond}
		}
		return Result{After: time.Millisecond}
	}, Options{Parallelism: 2, Timeout: time.Hour})
	q.EnqueueAfter("later", time.Hour)
	q.Enqueue("slow")
	wait(t, started, "the slow reconcile to start")
	q.Stop()
	require.True(t, cancelled.Load())
	q.Enqueue("x")
	q.EnqueueAfter("x", time.Millisecond)
	q.Stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	require.Empty(t, q.timers, "no timer may outlive Stop: it would enqueue into the closed controller")
}

// A panicking reconcile costs that reconcile only: other IDs go on, and the ID is retried with backoff.
func TestPanicIsRecoveredAndRetried(t *testing.T) {
	var calls atomic.Int32
	other, retried := make(chan struct{}), make(chan struct{})
	var log bytes.Buffer
	q := New(func(_ context.Context, i id) Result {
		switch {
		case i == "b":
			close(other)
		case calls.Add(1) == 1:
			panic("injected: reconcile bug")
		default:
			close(retried)
		}
		return Result{}
	}, Options{Parallelism: 1, BackoffMin: time.Millisecond, Log: zerolog.New(&log)})
	q.Enqueue("a")
	q.Enqueue("b")
	<-other
	<-retried
	q.Stop()
	require.Contains(t, log.String(), `"level":"error"`)
	require.Contains(t, log.String(), "injected: reconcile bug")
	require.Contains(t, log.String(), `"id":"a"`)
}

// blocker is a reconcile function whose "block" ID holds its worker until released, counting runs per ID.
type blocker struct {
	started, release chan struct{}
	runs             map[id]*atomic.Int32
}

func newBlocker(ids ...id) *blocker {
	b := &blocker{started: make(chan struct{}), release: make(chan struct{}), runs: map[id]*atomic.Int32{}}
	for _, i := range append(ids, "block") {
		b.runs[i] = new(atomic.Int32)
	}
	return b
}

func (b *blocker) fn(_ context.Context, i id) Result {
	if b.runs[i].Add(1) == 1 && i == "block" {
		close(b.started)
		<-b.release
	}
	return Result{}
}

// TestPendingMerges: requests for an ID already waiting merge into one (the depth counts it once); requests for
// an ID being reconciled make exactly one more reconcile after it.
func TestPendingMerges(t *testing.T) {
	b := newBlocker("a")
	q := New(b.fn, Options{Parallelism: 1, Timeout: time.Hour})
	defer q.Stop()
	q.Enqueue("block")
	wait(t, b.started, "the blocking reconcile")
	for range 100 {
		q.Enqueue("a")
		q.Enqueue("block") // running: one more run afterwards, however often asked
	}
	require.Equal(t, 2, q.Depth(), "a and block wait once each")
	close(b.release)
	waitIdle(t, q)
	require.EqualValues(t, 1, b.runs["a"].Load(), "100 requests while waiting: one reconcile")
	require.EqualValues(t, 2, b.runs["block"].Load(), "requests while running: one more reconcile")
	require.Zero(t, q.Depth())
}

// TestCapDropsAndCounts: beyond Cap waiting IDs a request for a new ID is dropped and counted; IDs already waiting
// still merge, and the depth gauge shows the waiting IDs.
func TestCapDropsAndCounts(t *testing.T) {
	b := newBlocker("a", "b", "c")
	reg := prometheus.NewPedanticRegistry()
	q := New(b.fn, Options{Parallelism: 1, Timeout: time.Hour, Cap: 2, Name: "test", Registerer: reg})
	defer q.Stop()
	q.Enqueue("block")
	wait(t, b.started, "the blocking reconcile")
	for _, i := range []id{"a", "b", "c", "a", "c"} {
		q.Enqueue(i)
	}
	require.Equal(t, 2, q.Depth())
	require.Equal(t, map[string]float64{
		`dm_manager_reconcile_queue_dropped_total{reconciler="test"}`: 2,
	}, gather(t, reg))
	close(b.release)
	waitIdle(t, q)
	require.EqualValues(t, 1, b.runs["a"].Load())
	require.EqualValues(t, 1, b.runs["b"].Load())
	require.Zero(t, b.runs["c"].Load(), "dropped: the resync brings it back")
	q.Enqueue("c")
	waitIdle(t, q)
	require.EqualValues(t, 1, b.runs["c"].Load(), "room again once the queue drained")
}

// gather returns each sample of reg as name{labels} -> value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName() + "{"
			for k, l := range m.GetLabel() {
				if k > 0 {
					key += ","
				}
				key += l.GetName() + `="` + l.GetValue() + `"`
			}
			out[key+"}"] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return out
}
