package ciragw

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Label values of the handshake and auth-failure counters.
const (
	resultOK            = "ok"
	resultAuthFailed    = "auth_failed"
	resultRateLimited   = "rate_limited"
	resultProtocolError = "protocol_error"
	resultTimeout       = "timeout"
	resultTLSError      = "tls_error"
	resultClosed        = "closed"
	resultBackendError  = "backend_error"
	resultOverloaded    = "overloaded"

	reasonUnknownDevice  = "unknown_device"
	reasonBadCredentials = "bad_credentials"
	reasonRateLimitIP    = "rate_limited_ip"
	reasonRateLimitGUID  = "rate_limited_guid"
	reasonBackend        = "backend_error"

	openOK       = "ok"
	openRefused  = "refused"
	openTimeout  = "timeout"
	openTooMany  = "too_many"
	openCanceled = "canceled"
	openNoDevice = "not_connected"
)

type metrics struct {
	sessions       prometheus.Gauge
	pending        prometheus.Gauge
	tlsKeyWaiting  prometheus.Gauge
	handshakes     *prometheus.CounterVec
	authFailures   *prometheus.CounterVec
	channelsOpen   prometheus.Gauge
	channelOpens   *prometheus.CounterVec
	bytes          *prometheus.CounterVec
	bytesIn        prometheus.Counter
	bytesOut       prometheus.Counter
	keepalives     prometheus.Counter
	wsmanLatency   prometheus.Histogram
	subscriberDrop prometheus.Counter
	presenceWrites *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "dm_manager_ciragw_sessions",
			Help: "Established CIRA sessions."}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "dm_manager_ciragw_pending_handshakes",
			Help: "Connections accepted but not yet established."}),
		tlsKeyWaiting: prometheus.NewGauge(prometheus.GaugeOpts{Name: "dm_manager_ciragw_tls_handshakes_waiting",
			Help: "TLS handshakes waiting for a turn to use the server key (Config.MaxConcurrentTLSKeyOps)."}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dm_manager_ciragw_handshakes_total",
			Help: "Ended handshakes by result."}, []string{"result"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dm_manager_ciragw_auth_failures_total",
			Help: "Refused CIRA logins by reason."}, []string{"reason"}),
		channelsOpen: prometheus.NewGauge(prometheus.GaugeOpts{Name: "dm_manager_ciragw_channels_open",
			Help: "Open APF channels."}),
		channelOpens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dm_manager_ciragw_channel_opens_total",
			Help: "Channel open attempts by result."}, []string{"result"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dm_manager_ciragw_bytes_total",
			Help: "APF bytes exchanged with devices, by direction."}, []string{"direction"}),
		keepalives: prometheus.NewCounter(prometheus.CounterOpts{Name: "dm_manager_ciragw_keepalives_total",
			Help: "KEEPALIVE_REQUESTs answered."}),
		wsmanLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "dm_manager_ciragw_wsman_latency_seconds",
			Help:    "WS-Man round trips through CIRA channels, as reported by the WS-Man client.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30}}),
		subscriberDrop: prometheus.NewCounter(prometheus.CounterOpts{Name: "dm_manager_ciragw_subscriber_events_dropped_total",
			Help: "Events not delivered to a subscriber whose buffer was full."}),
		presenceWrites: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dm_manager_ciragw_presence_writes_total",
			Help: "Presence batches written, by result."}, []string{"result"}),
	}
	m.bytesIn = m.bytes.WithLabelValues("in")
	m.bytesOut = m.bytes.WithLabelValues("out")
	if reg != nil {
		reg.MustRegister(m.sessions, m.pending, m.tlsKeyWaiting, m.handshakes, m.authFailures, m.channelsOpen, m.channelOpens,
			m.bytes, m.keepalives, m.wsmanLatency, m.subscriberDrop, m.presenceWrites)
	}
	return m
}
