package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The fleet metrics explain what the reconcilers and the activation engine do. They are process-wide, like
// panicsRecovered, because their producers (the reconcilers' queue, adapters in internal/app) are built in
// places that hold no registry; NewRegistry registers them.
var (
	reconciles = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dm_manager_reconciles_total",
		Help: "Reconciles by reconciler (host, tenant) and result: done (nothing more due), after (looked at again " +
			"later), requeue (next step at once), error (retried with backoff)."}, []string{"reconciler", "result"})
	reconcileDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "dm_manager_reconcile_duration_seconds", Help: "Duration of one reconcile, by reconciler.",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"reconciler"})
	queueDepth = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dm_manager_reconcile_queue_depth",
		Help: "Reconcile requests enqueued and not yet finished, by reconciler."}, []string{"reconciler"})
	powerActions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dm_manager_power_actions_total",
		Help: "AMT power actions sent by the host reconciler, by action (on, off, graceful_off, reset, " +
			"graceful_reset, power_cycle, sleep, hibernate, other) and outcome (ok, error, not_sent, unknown)."},
		[]string{"action", "outcome"})
	activations = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dm_manager_activations_total",
		Help: "Ended activation-websocket operations by op (activate, deactivate, maintenance) and outcome " +
			"(ok, failed)."}, []string{"op", "outcome"})
	activationDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "dm_manager_activation_duration_seconds", Help: "Duration of activation-websocket operations, " +
			"from the moment the tenant is known to the terminal message, by op and outcome.",
		Buckets: []float64{.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300},
	}, []string{"op", "outcome"})
	inventoryWrites = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dm_manager_inventory_writes_total",
		Help: "Host status writes to Inventory by field (power_status, amt_status) and result (written, " +
			"unchanged: Inventory already held it, error)."}, []string{"field", "result"})
)

func fleetCollectors() []prometheus.Collector {
	return []prometheus.Collector{reconciles, reconcileDuration, queueDepth, powerActions, activations,
		activationDuration, inventoryWrites}
}

// ObserveReconcile records one finished reconcile.
func ObserveReconcile(reconciler, result string, d time.Duration) {
	reconciles.WithLabelValues(reconciler, result).Inc()
	reconcileDuration.WithLabelValues(reconciler).Observe(d.Seconds())
}

// AddQueueDepth moves the reconciler's queue depth by delta (+1 enqueued, -1 finished).
func AddQueueDepth(reconciler string, delta float64) {
	queueDepth.WithLabelValues(reconciler).Add(delta)
}

// CountPowerAction records one AMT power action and its outcome.
func CountPowerAction(action, outcome string) { powerActions.WithLabelValues(action, outcome).Inc() }

// ObserveActivation records one ended activation-websocket operation.
func ObserveActivation(op, outcome string, d time.Duration) {
	activations.WithLabelValues(op, outcome).Inc()
	activationDuration.WithLabelValues(op, outcome).Observe(d.Seconds())
}

// CountInventoryWrite records one status write attempt.
func CountInventoryWrite(field, result string) { inventoryWrites.WithLabelValues(field, result).Inc() }
