package metrics

import (
	"fmt"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// panicsRecovered is process-wide because a panic can happen in any part, including ones built before a registry
// exists; NewRegistry registers it, so every registry serving /metrics shows it.
var panicsRecovered = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "dm_manager_panics_recovered_total",
	Help: "Panics recovered, by component (cira_session, reconcile, grpc, rest, websocket, ...); each cost one unit of work, not the process.",
}, []string{"component"})

// RecoverPanic must be deferred directly (defer metrics.RecoverPanic(...)) at the top of a unit of work that may
// fail alone: a CIRA session, a reconcile, a gRPC call, a REST request, an activation websocket. A panic there is
// logged at error level with its stack, counted, and handed to onPanic (may be nil) so the caller can answer or
// close what it was serving; the process goes on.
func RecoverPanic(component string, log zerolog.Logger, onPanic func(v any)) {
	if v := recover(); v != nil {
		reportPanic(component, v, &log, onPanic)
	}
}

// RecoverPanicLazy is RecoverPanic for units of work too many to build a logger each up front (a parked CIRA
// session resumes on every message): log is called only when there was a panic.
func RecoverPanicLazy(component string, log func() *zerolog.Logger, onPanic func(v any)) {
	if v := recover(); v != nil {
		reportPanic(component, v, log(), onPanic)
	}
}

func reportPanic(component string, v any, log *zerolog.Logger, onPanic func(v any)) {
	panicsRecovered.WithLabelValues(component).Inc()
	log.Error().Str("component", component).Str("panic", fmt.Sprint(v)).Bytes("stack", debug.Stack()).
		Msg("recovered from a panic; only this unit of work was lost")
	if onPanic != nil {
		onPanic(v)
	}
}
