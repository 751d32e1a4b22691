package events

import "time"

// Sink receives events. Emit must return at once whatever happens downstream: it is called on the gateway's,
// the reconcilers' and the activation engine's goroutines. An event a sink cannot take is dropped and counted
// (dm_manager_events_dropped_total), never waited for.
type Sink interface {
	Emit(Event)
}

// Discard is the sink when events are off.
var Discard Sink = discard{}

type discard struct{}

func (discard) Emit(Event) {}

// Fanout hands each event to every sink, in order, with At filled in once so all sinks agree.
type Fanout []Sink

// Emit implements Sink.
func (f Fanout) Emit(e Event) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	for _, s := range f {
		s.Emit(e)
	}
}
