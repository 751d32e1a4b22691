package events

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Drop reasons of dm_manager_events_dropped_total.
const (
	dropBufferFull = "buffer_full" // the sink's buffer was full: the broker or database is down or slow
	dropInvalid    = "invalid"     // the event cannot become a topic (a producer bug; logged)
	dropFailed     = "failed"      // the broker or database refused it or did not confirm it in time
	dropStopped    = "stopped"     // still buffered when dm-manager stopped
)

// Metrics are the event counters, shared by every sink of one process (label sink: mqtt, store).
type Metrics struct {
	published *prometheus.CounterVec // sink, kind
	dropped   *prometheus.CounterVec // sink, reason
	buffered  *prometheus.GaugeVec   // sink
	connected prometheus.Gauge       // MQTT connection up
}

// NewMetrics registers the event metrics on reg (nil: unregistered, for tests).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dm_manager_events_published_total",
			Help: "Events delivered, by sink (mqtt: the broker acknowledged it at QoS 1; store: written to the audit " +
				"trail) and kind."}, []string{"sink", "kind"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dm_manager_events_dropped_total",
			Help: "Events not delivered, by sink and reason (buffer_full, failed, invalid, stopped)."},
			[]string{"sink", "reason"}),
		buffered: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dm_manager_events_buffered",
			Help: "Events waiting in a sink's bounded buffer."}, []string{"sink"}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "dm_manager_mqtt_connected",
			Help: "1 while the MQTT publisher is connected to the broker."}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.published, m.dropped, m.buffered, m.connected} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("events: metrics already registered (one Metrics per registry): %w", err)
			}
			return nil, fmt.Errorf("events: register metrics: %w", err)
		}
	}
	// Series exist from the start, so dashboards and alerts see zeros rather than nothing.
	for _, sink := range []string{sinkMQTT, sinkStore} {
		for _, r := range []string{dropBufferFull, dropInvalid, dropFailed, dropStopped} {
			m.dropped.WithLabelValues(sink, r)
		}
		m.buffered.WithLabelValues(sink)
	}
	return m, nil
}
