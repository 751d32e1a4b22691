package rps

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	active   prometheus.Gauge
	sessions *prometheus.CounterVec   // op
	outcomes *prometheus.CounterVec   // op, result
	steps    *prometheus.HistogramVec // step
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{Name: "dm_manager_rps_sessions_active",
			Help: "Activation websocket sessions in progress."}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dm_manager_rps_sessions_total",
			Help: "Activation websocket sessions by operation (activate, deactivate, maintenance, invalid)."}, []string{"op"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dm_manager_rps_outcomes_total",
			Help: "Terminal results by operation and result (success, error, refused, aborted)."}, []string{"op", "result"}),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dm_manager_rps_step_duration_seconds",
			Help:    "Duration of activation steps (WS-Man exchanges through the rpc-go relay and their bookkeeping).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"step"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.active, m.sessions, m.outcomes, m.steps} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("rps: metrics already registered (one Engine per registry): %w", err)
			}
			return nil, fmt.Errorf("rps: register metrics: %w", err)
		}
	}
	return m, nil
}
