package events

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/internal/store"
)

// Trail is the audit trail's storage (*store.Store).
type Trail interface {
	InsertEvents(ctx context.Context, batch []store.EventRecord) error
	PruneEvents(ctx context.Context, before time.Time) (int64, error)
}

// RecorderConfig configures a Recorder. Trail, Retention and Metrics are required.
type RecorderConfig struct {
	Trail     Trail
	Retention time.Duration // events older than this are pruned
	// PruneEvery is the period of the pruning; default Retention/24, at least a minute and at most an hour.
	PruneEvery   time.Duration
	BufferSize   int           // default 4096
	BatchSize    int           // events per INSERT; default 200
	WriteTimeout time.Duration // one INSERT or DELETE; default 10s
	Replica      string
	Now          func() time.Time
	Metrics      *Metrics
	Log          zerolog.Logger
}

// Recorder writes events to the audit trail in batches from one goroutine and prunes old ones. Like the
// Publisher it never makes a producer wait: a database that is down or slow fills the buffer, then drops.
type Recorder struct {
	cfg     RecorderConfig
	buf     *buffer
	cancel  context.CancelFunc
	done    chan struct{}
	stopped sync.WaitGroup
	once    sync.Once
}

// NewRecorder starts the writer and the pruner.
func NewRecorder(cfg RecorderConfig) (*Recorder, error) {
	if cfg.Trail == nil || cfg.Metrics == nil || cfg.Retention <= 0 {
		return nil, errors.New("events: RecorderConfig needs Trail, Metrics and a positive Retention")
	}
	if cfg.PruneEvery <= 0 {
		cfg.PruneEvery = min(max(cfg.Retention/24, time.Minute), time.Hour)
	}
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = 4096
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 200
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log.With().Str("component", "events").Str("sink", sinkStore).Logger()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Recorder{cfg: cfg, buf: newBuffer(sinkStore, cfg.BufferSize, cfg.Metrics, log), cancel: cancel,
		done: make(chan struct{})}
	r.stopped.Add(2)
	go r.write(ctx)
	go r.prune(ctx)
	return r, nil
}

// Emit implements Sink.
func (r *Recorder) Emit(e Event) { r.buf.Emit(e) }

// Close writes what is already buffered (bounded by WriteTimeout) and stops.
func (r *Recorder) Close() {
	r.once.Do(func() {
		close(r.done)
		r.stopped.Wait()
		r.cancel()
	})
}

func (r *Recorder) write(ctx context.Context) {
	defer r.stopped.Done()
	for {
		e, ok := r.buf.next(r.done)
		if !ok {
			r.flushRest(ctx)
			return
		}
		batch := []Event{e}
		for len(batch) < r.cfg.BatchSize {
			e, ok := r.buf.more()
			if !ok {
				break
			}
			batch = append(batch, e)
		}
		r.insert(ctx, batch)
	}
}

// flushRest writes what was buffered before the stop, once; what fails is counted as dropped.
func (r *Recorder) flushRest(ctx context.Context) {
	var batch []Event
	for {
		e, ok := r.buf.more()
		if !ok {
			break
		}
		batch = append(batch, e)
	}
	if len(batch) > 0 {
		r.insert(ctx, batch)
	}
}

func (r *Recorder) insert(ctx context.Context, batch []Event) {
	recs := make([]store.EventRecord, len(batch))
	for i, e := range batch {
		id := uuid.NewString()
		recs[i] = store.EventRecord{ID: id, TenantID: e.Tenant, GUID: e.GUID, Kind: string(e.Kind), At: e.At,
			Payload: json.RawMessage(PayloadOf(e, id, r.cfg.Replica).JSON())}
	}
	wctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
	defer cancel()
	if err := r.cfg.Trail.InsertEvents(wctx, recs); err != nil {
		r.cfg.Metrics.dropped.WithLabelValues(sinkStore, dropFailed).Add(float64(len(batch)))
		r.cfg.Log.Warn().Err(err).Int("events", len(batch)).Msg("audit trail: events not written")
		return
	}
	for _, e := range batch {
		r.cfg.Metrics.published.WithLabelValues(sinkStore, string(e.Kind)).Inc()
	}
}

func (r *Recorder) prune(ctx context.Context) {
	defer r.stopped.Done()
	t := time.NewTicker(r.cfg.PruneEvery)
	defer t.Stop()
	for {
		r.pruneOnce(ctx)
		select {
		case <-r.done:
			return
		case <-t.C:
		}
	}
}

func (r *Recorder) pruneOnce(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
	defer cancel()
	n, err := r.cfg.Trail.PruneEvents(pctx, r.cfg.Now().Add(-r.cfg.Retention))
	if err != nil {
		r.cfg.Log.Warn().Err(err).Msg("audit trail: pruning old events failed; will retry")
		return
	}
	if n > 0 {
		r.cfg.Log.Debug().Int64("events", n).Msg("audit trail: pruned events past retention")
	}
}
