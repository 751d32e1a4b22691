// Package queue runs a level-triggered reconciler on orch-library controller v2 (emf-conventions §3): requests are
// partitioned by ID hash so one ID is never reconciled twice at once, with a per-reconcile timeout and a configurable
// number of workers. On top of the controller it adds what the reconcilers need and v2 lacks:
//
//   - an ID already waiting is not queued twice: repeated requests merge, and a request for an ID being reconciled
//     runs once more after it (client-go workqueue's dirty and processing sets);
//   - a bound (Options.Cap) on waiting IDs: a request for a new ID beyond it is dropped and counted, since the
//     periodic resync enqueues every ID again; the depth and the drops are metrics;
//   - one pending timer per ID (the earliest wins), so repeated "look again at T" answers do not pile up;
//   - per-ID exponential backoff for errors, reset by the next success;
//   - a background lane (EnqueueBackground) for the periodic resync: its IDs reach the workers only while few
//     requests are waiting, so an event's request never queues behind a whole resync, and no faster than spreads
//     a resync over Options.Spread, so its cost is a steady load rather than a burst every period;
//   - a Stop that is safe while timers are pending. v2's Retry(...).After re-enqueues from a time.AfterFunc into a
//     partition channel that its Stop closes, which panics when a timer fires after Stop; here timers and enqueues
//     go through a gate that Stop shuts, and the controller is stopped only once every enqueued request has been
//     taken by a worker.
package queue

import (
	"context"
	"fmt"
	"sync"
	"time"

	controller "github.com/open-edge-platform/orch-library/go/pkg/controller/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/internal/metrics"
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

// label is the result label of dm_manager_reconciles_total.
func (r Result) label() string {
	switch {
	case r.Err != nil:
		return "error"
	case r.Requeue:
		return "requeue"
	case r.After > 0:
		return "after"
	}
	return "done"
}

// Func reconciles one ID. ctx ends at the controller's timeout or when the queue stops.
type Func[I controller.ID] func(ctx context.Context, id I) Result

// Options configure a Queue.
type Options struct {
	Parallelism int           // workers (controller partitions); default 1
	Timeout     time.Duration // per reconcile; default 30s
	BackoffMin  time.Duration // first error retry; default 1s
	BackoffMax  time.Duration // cap; default 1m
	// Name labels the queue's metrics (dm_manager_reconciles_total and friends: "host", "tenant"); default "unnamed".
	Name string
	// Log receives the error line of a reconcile that panicked; such a reconcile is retried with backoff, the
	// other IDs and the process go on.
	Log zerolog.Logger
	// Cap is the most IDs waiting to run (default DefaultCap); beyond it a new ID is dropped and counted.
	Cap int
	// Registerer receives the queue's own dropped counter; nil registers nothing.
	Registerer prometheus.Registerer
	// Spread is the time over which a burst of background requests is handed to the workers: a resync of 10,000
	// hosts with Spread 45 s goes out ~11 every 50 ms (backgroundBatch); a small burst goes faster
	// (maxBackgroundGap). 0: as fast as the workers take them.
	Spread time.Duration
}

// DefaultCap bounds the waiting IDs: far more hosts than one replica serves, small enough to bound memory.
const DefaultCap = 1 << 16

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
	waiting  map[I]struct{} // queued, not yet taken by a worker (dirty)
	running  map[I]struct{} // being reconciled; a request meanwhile waits until it ends (processing)
	dropped  prometheus.Counter
	bg       background[I]
}

// background is the lane of EnqueueBackground: IDs in arrival order, each at most once (an ID is in order at least
// once while it is in set; an entry not in set is skipped), and the pace of the burst being handed out.
type background[I comparable] struct {
	order    []I
	set      map[I]struct{}
	deadline time.Time   // the burst should be handed out by then (Options.Spread after it began)
	next     time.Time   // the next batch may go at this time
	credit   int         // IDs of the current batch still to go
	timer    *time.Timer // armed while the pace holds the next batch back
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
	if opts.Name == "" {
		opts.Name = "unnamed"
	}
	if opts.Cap <= 0 {
		opts.Cap = DefaultCap
	}
	q := &Queue[I]{fn: fn, opts: opts, timers: map[I]pendingTimer{}, attempts: map[I]int{},
		waiting: map[I]struct{}{}, running: map[I]struct{}{}, bg: background[I]{set: map[I]struct{}{}}}
	q.register()
	q.stopCtx, q.stopAll = context.WithCancel(context.Background()) //nolint:gosec // G118: Stop calls q.stopAll
	q.newCtx, q.stopNew = context.WithCancel(q.stopCtx)             //nolint:gosec // G118: Stop calls q.stopNew
	q.ctrl = controller.NewController[I](q.reconcile,
		controller.WithParallelism(opts.Parallelism), controller.WithTimeout(opts.Timeout))
	return q
}

// Enqueue asks for a reconcile of id. It never blocks; after Stop it does nothing. An id already waiting is not
// queued again; one being reconciled is reconciled once more afterwards.
func (q *Queue[I]) Enqueue(id I) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.enqueueLocked(id)
}

func (q *Queue[I]) enqueueLocked(id I) {
	if q.stopped {
		return
	}
	if _, ok := q.waiting[id]; ok {
		return
	}
	if len(q.waiting) >= q.opts.Cap {
		q.dropped.Inc()
		return
	}
	q.waiting[id] = struct{}{}
	q.bgDrop(id) // this request covers the background one
	if _, ok := q.running[id]; ok {
		return // pushed when the reconcile in progress ends (finish)
	}
	q.push(id)
}

// push hands a waiting id to the controller.
func (q *Queue[I]) push(id I) {
	q.inflight.Add(1)
	metrics.AddQueueDepth(q.opts.Name, 1)
	if err := q.ctrl.Reconcile(id); err != nil { // only fails if hashing the ID fails
		delete(q.waiting, id)
		q.inflight.Done()
		metrics.AddQueueDepth(q.opts.Name, -1)
	}
}

// EnqueueBackground asks for a reconcile of id at low priority (a periodic resync): it waits in the background
// lane until fewer requests wait or run than twice the workers, and the lane's pace lets it go. An id already
// waiting or in the lane is not queued again. It never blocks; after Stop it does nothing.
func (q *Queue[I]) EnqueueBackground(id I) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return
	}
	if _, ok := q.waiting[id]; ok {
		return
	}
	if _, ok := q.bg.set[id]; ok {
		return
	}
	if len(q.bg.set)+len(q.waiting) >= q.opts.Cap {
		q.dropped.Inc()
		return
	}
	if len(q.bg.set) == 0 {
		now := time.Now()
		q.bg.deadline, q.bg.next = now.Add(q.opts.Spread), now
	}
	q.bg.set[id] = struct{}{}
	q.bg.order = append(q.bg.order, id)
	metrics.AddQueueDepth(q.opts.Name, 1)
	q.feedLocked()
}

// bgDrop takes id out of the background lane, if it is there.
func (q *Queue[I]) bgDrop(id I) {
	if _, ok := q.bg.set[id]; ok {
		delete(q.bg.set, id)
		metrics.AddQueueDepth(q.opts.Name, -1)
	}
}

// maxBackgroundGap is the slowest pace of the background lane: a burst small enough to go at this pace is not
// stretched over the whole Spread (a few hosts are looked at within a second, not one every few seconds).
const maxBackgroundGap = 20 * time.Millisecond

// backgroundBatch is how often the paced lane hands out a batch: IDs go a batch at a time rather than one per
// timer, because waking the process (and Inventory and Postgres) for every single reconcile costs more CPU than
// the same reconciles a few at a time.
const backgroundBatch = 50 * time.Millisecond

// feedLocked hands background IDs to the workers while they have room for them (at most twice the workers'
// number waiting or running) and the pace allows; otherwise a finishing reconcile or the pace timer calls it again.
func (q *Queue[I]) feedLocked() {
	for len(q.bg.set) > 0 && !q.stopped && len(q.waiting)+len(q.running) < 2*q.opts.Parallelism {
		if q.bg.credit == 0 && !q.nextBatch() {
			return
		}
		id := q.bg.order[0]
		var zero I
		q.bg.order[0] = zero
		q.bg.order = q.bg.order[1:]
		if _, ok := q.bg.set[id]; !ok {
			continue // an Enqueue covered it
		}
		q.bgDrop(id)
		q.enqueueLocked(id)
		q.bg.credit--
	}
	if len(q.bg.set) == 0 {
		q.bg.order, q.bg.credit = nil, 0 // let the burst's backing array go
	}
}

// nextBatch sizes the next batch of the lane when its time has come: the IDs left spread evenly over what is left
// of the burst's Spread, backgroundBatch's worth of them (all of them once the Spread is over). Before that time it
// arms the pace timer and reports false.
func (q *Queue[I]) nextBatch() bool {
	now := time.Now()
	if wait := q.bg.next.Sub(now); wait > 0 {
		if q.bg.timer == nil {
			q.bg.timer = time.AfterFunc(wait, func() {
				q.mu.Lock()
				defer q.mu.Unlock()
				q.bg.timer = nil
				q.feedLocked()
			})
		}
		return false
	}
	gap := min(max(q.bg.deadline.Sub(now), 0)/time.Duration(len(q.bg.set)), maxBackgroundGap)
	if gap == 0 {
		q.bg.credit = len(q.bg.set)
		return true
	}
	q.bg.credit = max(1, int(backgroundBatch/gap))
	q.bg.next = now.Add(time.Duration(q.bg.credit) * gap)
	return true
}

// take moves id from waiting to running as a worker starts it.
func (q *Queue[I]) take(id I) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.waiting, id)
	q.running[id] = struct{}{}
}

// finish ends id's run, however it ended (a panic too); a request that came meanwhile is pushed now.
func (q *Queue[I]) finish(id I) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.running, id)
	if _, ok := q.waiting[id]; ok && !q.stopped {
		q.push(id)
	}
	q.feedLocked()
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
	if q.bg.timer != nil {
		q.bg.timer.Stop()
	}
	metrics.AddQueueDepth(q.opts.Name, -float64(len(q.bg.set)))
	q.bg = background[I]{set: map[I]struct{}{}}
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
	defer metrics.AddQueueDepth(q.opts.Name, -1)
	q.take(req.ID)
	defer q.finish(req.ID)
	if q.newCtx.Err() != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(q.stopCtx, cancel)()

	start := time.Now()
	res := q.call(ctx, req.ID)
	metrics.ObserveReconcile(q.opts.Name, res.label(), time.Since(start))
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

// call runs fn; a panic costs this reconcile only and counts as an error, so the ID is retried with backoff.
func (q *Queue[I]) call(ctx context.Context, id I) (res Result) {
	defer metrics.RecoverPanic("reconcile", q.opts.Log.With().Str("id", fmt.Sprint(id)).Logger(), func(v any) {
		res = Result{Err: fmt.Errorf("reconcile panicked: %v", v)}
	})
	return q.fn(ctx, id)
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

// register creates the depth gauge and the drop counter, labelled with the controller name.
func (q *Queue[I]) register() {
	// The depth gauge is metrics.AddQueueDepth's (process-wide, like the other reconcile metrics); the dropped
	// counter belongs to this queue.
	q.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dm_manager_reconcile_queue_dropped_total", ConstLabels: prometheus.Labels{"reconciler": q.opts.Name},
		Help: "Reconcile requests dropped because the queue held its cap of waiting IDs; the resync repairs them.",
	})
	if q.opts.Registerer != nil {
		q.opts.Registerer.MustRegister(q.dropped)
	}
}

// Depth is the number of IDs waiting to be reconciled, in the background lane too.
func (q *Queue[I]) Depth() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting) + len(q.bg.set)
}
