package queue

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/metrics"
)

// sample reads one series of a gathered metric family (counter, gauge or histogram count), 0 when absent.
func sample(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	return 0
}

// metricsRuns names each run of TestQueueMetrics' queue apart: the reconcile metrics are process-wide, so a second
// run (-count) would otherwise read the first one's counts too.
var metricsRuns int

// Each reconcile is counted by result and timed, and the queue depth returns to zero once the work is done.
func TestQueueMetrics(t *testing.T) {
	reg := metrics.NewRegistry()
	metricsRuns++
	queueName := fmt.Sprint("metrics-test-", metricsRuns)
	name := map[string]string{"reconciler": queueName}
	with := func(result string) map[string]string {
		return map[string]string{"reconciler": queueName, "result": result}
	}
	done := make(chan struct{})
	n := 0
	q := New(func(_ context.Context, _ id) Result {
		n++
		switch n {
		case 1:
			return Result{Requeue: true}
		case 2:
			return Result{Err: errors.New("retry")}
		}
		close(done)
		return Result{}
	}, Options{Parallelism: 1, Name: queueName, BackoffMin: 1, BackoffMax: 1})
	q.Enqueue("a")
	<-done
	q.Stop()
	require.Equal(t, 1.0, sample(t, reg, "dm_manager_reconciles_total", with("requeue")))
	require.Equal(t, 1.0, sample(t, reg, "dm_manager_reconciles_total", with("error")))
	require.Equal(t, 1.0, sample(t, reg, "dm_manager_reconciles_total", with("done")))
	require.Equal(t, 3.0, sample(t, reg, "dm_manager_reconcile_duration_seconds", name))
	require.Equal(t, 0.0, sample(t, reg, "dm_manager_reconcile_queue_depth", name))
}
