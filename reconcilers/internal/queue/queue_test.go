package queue

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

type id string

func (i id) String() string { return string(i) }

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

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
	<-done
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
	<-done
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
	at := <-runs
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
	<-started
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
