// Package queue runs a level-triggered reconciler on orch-library controller v2 (emf-conventions §3): requests are
// partitioned by ID hash so one ID is never reconciled twice at once, with a per-reconcile timeout and a configurable
// number of workers. On top of the controller it adds what the reconcilers need and v2 lacks:
//
//   - one pending timer per ID (the earliest wins), so repeated "look again at T" answers do not pile up;
//   - per-ID exponential backoff for errors, reset by the next success;
//   - a Stop that is safe while timers are pending. v2's Retry(...).After re-enqueues from a time.AfterFunc into a
//     partition channel that its Stop closes, which panics when a timer fires after Stop; here timers and enqueues
//     go through a gate that Stop shuts, and the controller is stopped only once every enqueued request has been
//     taken by a worker.
package queue

import (
	"context"
	"sync"
	"time"

	controller "github.com/open-edge-platform/orch-library/go/pkg/controller/v2"
)

// Result is what a reconcile asks for next.
type Result struct {
	// Err, when set, retries the ID with exponential backoff (the reconcile found the world unreachable).
	Err error
	// After, when > 0 and Err is nil, reconciles the ID again after this delay (a journal deadline, a grace
	// period ending). Zero means nothing more is due: the next trigger is an event or the periodic resync.
	After time.Duration
	// Requeue reconciles the ID again at once (the reconcile did one step and the next one is ready).
	Requeue bool
}

// Func reconciles one ID. ctx ends at the controller's timeout or when the queue stops.
type Func[I controller.ID] func(ctx context.Context, id I) Result

// Options configure a Queue.
type Options struct {
	Parallelism int           // workers (controller partitions); default 1
	Timeout     time.Duration // per reconcile; default 30s
	BackoffMin  time.Duration // first error retry; default 1s
	BackoffMax  time.Duration // cap; default 1m
}

// Queue feeds IDs to a reconcile function.
type Queue[I controller.ID] struct {
	ctrl *controller.Controller[I]
	fn   Func[I]
	opts Options

	stopCtx  context.Context
	stopAll  context.CancelFunc
	newCtx   context.Context // ends at Stop: requests not started yet return at once
	stopNew  context.CancelFunc
	mu       sync.Mutex
	stopped  bool
	inflight sync.WaitGroup // enqueued and not yet finished
	timers   map[I]pendingTimer
	attempts map[I]int
}

type pendingTimer struct {
	at    time.Time
	timer *time.Timer
}

// New starts the workers.
func New[I controller.ID](fn Func[I], opts Options) *Queue[I] {
	if opts.Parallelism <= 0 {
		opts.Parallelism = 1
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.BackoffMin <= 0 {
		opts.BackoffMin = time.Second
	}
	if opts.BackoffMax < opts.BackoffMin {
		opts.BackoffMax = max(time.Minute, opts.BackoffMin)
	}
	q := &Queue[I]{fn: fn, opts: opts, timers: map[I]pendingTimer{}, attempts: map[I]int{}}
	q.stopCtx, q.stopAll = context.WithCancel(context.Background()) //nolint:gosec // G118: Stop calls q.stopAll
	q.newCtx, q.stopNew = context.WithCancel(q.stopCtx)             //nolint:gosec // G118: Stop calls q.stopNew
	q.ctrl = controller.NewController[I](q.reconcile,
		controller.WithParallelism(opts.Parallelism), controller.WithTimeout(opts.Timeout))
	return q
}

// Enqueue asks for a reconcile of id. It never blocks; after Stop it does nothing.
func (q *Queue[I]) Enqueue(id I) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.enqueueLocked(id)
}

func (q *Queue[I]) enqueueLocked(id I) {
	if q.stopped {
		return
	}
	q.inflight.Add(1)
	if err := q.ctrl.Reconcile(id); err != nil { // only fails if hashing the ID fails
		q.inflight.Done()
	}
}

// EnqueueAfter reconciles id after d, unless an earlier reconcile of id is already scheduled.
func (q *Queue[I]) EnqueueAfter(id I, d time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.afterLocked(id, d)
}

func (q *Queue[I]) afterLocked(id I, d time.Duration) {
	at := time.Now().Add(d)
	if q.stopped {
		return
	}
	if p, ok := q.timers[id]; ok {
		if !p.at.After(at) {
			return
		}
		p.timer.Stop()
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if p, ok := q.timers[id]; ok && p.timer == t {
			delete(q.timers, id)
		}
		q.enqueueLocked(id)
	})
	q.timers[id] = pendingTimer{at: at, timer: t}
}

// drainWait is how long Stop lets reconciles in progress finish before cancelling them: a request already on its
// way to a device is answered rather than cut off into "outcome unknown" (a drained replica's power actions).
const drainWait = 3 * time.Second

// Stop cancels pending timers, lets the workers drain what was enqueued (each such request returns at once), gives
// reconciles in progress up to drainWait to finish, then cancels their context and stops the controller.
func (q *Queue[I]) Stop() {
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		return
	}
	q.stopped = true
	for id, p := range q.timers {
		p.timer.Stop()
		delete(q.timers, id)
	}
	q.mu.Unlock()
	q.stopNew()
	done := make(chan struct{})
	go func() {
		q.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(drainWait):
	}
	q.stopAll()
	<-done
	q.ctrl.Stop()
}

func (q *Queue[I]) reconcile(ctx context.Context, req controller.Request[I]) controller.Directive[I] {
	defer q.inflight.Done()
	if q.newCtx.Err() != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(q.stopCtx, cancel)()

	res := q.fn(ctx, req.ID)
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case res.Err != nil:
		n := q.attempts[req.ID]
		q.attempts[req.ID] = n + 1
		q.afterLocked(req.ID, q.backoff(n))
	case res.Requeue:
		delete(q.attempts, req.ID)
		q.enqueueLocked(req.ID)
	default:
		delete(q.attempts, req.ID)
		if res.After > 0 {
			q.afterLocked(req.ID, res.After)
		}
	}
	return req.Ack()
}

func (q *Queue[I]) backoff(attempt int) time.Duration {
	d := q.opts.BackoffMin
	for range attempt {
		d *= 2
		if d >= q.opts.BackoffMax {
			return q.opts.BackoffMax
		}
	}
	return d
}
