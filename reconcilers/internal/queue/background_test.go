package queue

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// recorder notes the order of reconciles; "block" waits for release on its first run. Each reconcile parks for io
// (zero: returns at once), as a real one does on its network reads.
type recorder struct {
	io      time.Duration
	mu      sync.Mutex
	order   []id
	at      []time.Time
	started chan struct{}
	release chan struct{}
	all     chan struct{}
	want    int
}

func newRecorder(want int) *recorder {
	return &recorder{started: make(chan struct{}), release: make(chan struct{}), all: make(chan struct{}), want: want}
}

func (r *recorder) fn(_ context.Context, i id) Result {
	r.mu.Lock()
	r.order = append(r.order, i)
	r.at = append(r.at, time.Now())
	n := len(r.order)
	r.mu.Unlock()
	if r.io > 0 {
		time.Sleep(r.io)
	}
	if i == "block" && n == 1 {
		close(r.started)
		<-r.release
	}
	if n == r.want {
		close(r.all)
	}
	return Result{}
}

func (r *recorder) position(i id) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, o := range r.order {
		if o == i {
			return k
		}
	}
	return -1
}

// An event's request does not wait behind a resync: background IDs reach the workers only while fewer than twice
// the workers' number of requests wait or run. (The controller hands each request over on a goroutine of its own,
// so its order among the few handed over at about the same time is not fixed. Reconciles that never park would let
// the worker and each next hand-over goroutine take turns on one CPU while the event's hand-over waits for its turn
// in the run queue: 100 and more resyncs ran first that way on a busy machine. Real reconciles park on I/O.)
func TestBackgroundYieldsToEvents(t *testing.T) {
	const n = 200
	r := newRecorder(1 + n + 1)
	r.io = 200 * time.Microsecond
	q := New(r.fn, Options{Parallelism: 1, Timeout: time.Hour})
	defer q.Stop()
	q.Enqueue("block")
	wait(t, r.started, "the blocking reconcile")
	for k := range n {
		q.EnqueueBackground(id(fmt.Sprint("resync-", k)))
	}
	require.Equal(t, n, q.Depth(), "one waits for the worker, the rest in the lane")
	q.Enqueue("event")
	close(r.release)
	wait(t, r.all, "every reconcile")
	require.LessOrEqual(t, r.position("event"), 10, "the event runs after a few of the 200 resync requests, not all")
	require.Zero(t, q.Depth())
}

// A background ID already waiting, or asked for again while in the lane, runs once; an Enqueue of an ID in the
// lane takes it out of the lane.
func TestBackgroundMerges(t *testing.T) {
	r := newRecorder(1 + 3)
	q := New(r.fn, Options{Parallelism: 1, Timeout: time.Hour})
	defer q.Stop()
	q.Enqueue("block")
	wait(t, r.started, "the blocking reconcile")
	for range 10 {
		q.EnqueueBackground("a")
		q.EnqueueBackground("b")
		q.EnqueueBackground("c")
	}
	q.Enqueue("c")
	require.Equal(t, 3, q.Depth())
	close(r.release)
	wait(t, r.all, "every reconcile")
	time.Sleep(50 * time.Millisecond) // a duplicate would run now
	r.mu.Lock()
	require.ElementsMatch(t, []id{"block", "a", "b", "c"}, r.order)
	r.mu.Unlock()
}

// A burst is spread over Options.Spread, not run at once.
func TestBackgroundSpread(t *testing.T) {
	const n, spread = 40, 600 * time.Millisecond // 15 ms apart: under maxBackgroundGap
	r := newRecorder(n)
	q := New(r.fn, Options{Parallelism: 4, Timeout: time.Hour, Spread: spread})
	defer q.Stop()
	start := time.Now()
	for k := range n {
		q.EnqueueBackground(id(fmt.Sprint("resync-", k)))
	}
	wait(t, r.all, "every reconcile")
	r.mu.Lock()
	defer r.mu.Unlock()
	took := r.at[n-1].Sub(start)
	require.GreaterOrEqual(t, took, spread*3/4, "the last one not long before the spread ends")
	require.Less(t, r.at[n/2-1].Sub(start), spread*3/4, "half of them well before it ends")
}

// A small burst is not stretched over a long Spread.
func TestBackgroundSmallBurst(t *testing.T) {
	r := newRecorder(3)
	q := New(r.fn, Options{Parallelism: 1, Timeout: time.Hour, Spread: time.Hour})
	defer q.Stop()
	for k := range 3 {
		q.EnqueueBackground(id(fmt.Sprint("resync-", k)))
	}
	wait(t, r.all, "three reconciles, maxBackgroundGap apart")
}

// Stop with a paced burst in the lane: the lane is dropped and its timer stopped (goleak checks the rest).
func TestBackgroundStop(t *testing.T) {
	r := newRecorder(-1)
	q := New(r.fn, Options{Parallelism: 1, Timeout: time.Hour, Spread: time.Hour})
	for k := range 5 {
		q.EnqueueBackground(id(fmt.Sprint("resync-", k)))
	}
	q.Stop()
	require.Zero(t, q.Depth())
	q.EnqueueBackground("late")
	require.Zero(t, q.Depth())
}
