package events

import (
	"time"

	"github.com/rs/zerolog"
)

// Sink names, the "sink" label of the event metrics.
const (
	sinkMQTT  = "mqtt"
	sinkStore = "store"
)

// buffer is the bounded hand-over between producers and one sink's single worker goroutine: Emit validates,
// stamps and enqueues, or drops and counts when the buffer is full. Nothing a producer does waits on the worker.
type buffer struct {
	sink string
	ch   chan Event
	m    *Metrics
	log  zerolog.Logger
}

func newBuffer(sink string, size int, m *Metrics, log zerolog.Logger) *buffer {
	if size <= 0 {
		size = 1
	}
	return &buffer{sink: sink, ch: make(chan Event, size), m: m, log: log}
}

// Emit implements Sink.
func (b *buffer) Emit(e Event) {
	if err := e.Validate(); err != nil {
		b.m.dropped.WithLabelValues(b.sink, dropInvalid).Inc()
		b.log.Warn().Err(err).Str("sink", b.sink).Msg("event dropped: it cannot be published")
		return
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	select {
	case b.ch <- e:
		b.m.buffered.WithLabelValues(b.sink).Inc()
	default:
		b.m.dropped.WithLabelValues(b.sink, dropBufferFull).Inc()
	}
}

// next takes the next event for the worker; ok is false when done is closed first.
func (b *buffer) next(done <-chan struct{}) (Event, bool) {
	select {
	case e := <-b.ch:
		b.m.buffered.WithLabelValues(b.sink).Dec()
		return e, true
	case <-done:
		return Event{}, false
	}
}

// more takes an already buffered event without waiting, for batching.
func (b *buffer) more() (Event, bool) {
	select {
	case e := <-b.ch:
		b.m.buffered.WithLabelValues(b.sink).Dec()
		return e, true
	default:
		return Event{}, false
	}
}

// discardRest counts what is still buffered at the stop as dropped.
func (b *buffer) discardRest() {
	for {
		if _, ok := b.more(); !ok {
			return
		}
		b.m.dropped.WithLabelValues(b.sink, dropStopped).Inc()
	}
}
