package events_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/events"
	"github.com/dmrm/dm-manager/internal/events/mqtttest"
)

func newMetrics(t *testing.T) (*events.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := events.NewMetrics(reg)
	require.NoError(t, err)
	return m, reg
}

func value(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return total
}

// Every kind reaches a subscriber on the real broker at its topic, with a payload of the documented schema.
func TestPublisherDeliversEveryKind(t *testing.T) {
	addr := mqtttest.Shared(t)
	prefix := "dmtest-" + uuid.NewString()[:8]
	sub := mqtttest.Subscribe(t, addr, prefix+"/#")
	m, reg := newMetrics(t)
	pub, err := events.NewPublisher(events.MQTTConfig{Address: addr, TopicPrefix: prefix, Replica: "r0", Metrics: m,
		Log: zerolog.Nop()})
	require.NoError(t, err)
	defer pub.Close()

	kinds := []events.Kind{events.CIRAConnected, events.CIRADisconnected, events.PowerRequested, events.PowerDone,
		events.PowerFailed, events.ActivationStarted, events.ActivationSucceeded, events.ActivationFailed,
		events.DeactivationStarted, events.Deactivated, events.DeactivationFailed, events.DomainAdded,
		events.DomainRemoved}
	g := uuid.NewString()
	for _, k := range kinds {
		pub.Emit(events.Event{Kind: k, Tenant: "t1", GUID: g, Message: string(k)})
	}
	got := sub.WaitFor(t, 20*time.Second, "every kind", func(ms []mqtttest.Message) bool { return len(ms) >= len(kinds) })
	byKind := map[events.Kind]mqtttest.Message{}
	for _, msg := range got {
		p, err := events.ParsePayload(msg.Payload)
		require.NoError(t, err)
		byKind[p.Kind] = msg
		require.Equal(t, "r0", p.Replica)
		require.NotEmpty(t, p.ID)
		_, err = time.Parse(time.RFC3339Nano, p.At)
		require.NoError(t, err)
	}
	for _, k := range kinds {
		msg, ok := byKind[k]
		require.True(t, ok, "kind %s received", k)
		want := prefix + "/t1/" + g + "/" + string(k)
		if k.TenantLevel() {
			want = prefix + "/t1/domains/" + string(k)
		}
		require.Equal(t, want, msg.Topic)
	}
	require.Eventually(t, func() bool {
		return value(t, reg, "dm_manager_events_published_total", "sink", "mqtt") == float64(len(kinds))
	}, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, 1.0, value(t, reg, "dm_manager_mqtt_connected"))

	pub.Emit(events.Event{Kind: "Bad/Kind", Tenant: "t1", GUID: g})
	require.Equal(t, 1.0, value(t, reg, "dm_manager_events_dropped_total", "reason", "invalid"))
}

// The broker is away for 30 s: Emit never waits, the buffer keeps the first events and drops the rest (counted),
// and once the broker is back the buffered events and new ones are delivered.
func TestBrokerDownThirtySeconds(t *testing.T) {
	if testing.Short() {
		t.Skip("30 s outage")
	}
	b := mqtttest.Private(t)
	m, reg := newMetrics(t)
	const buffer = 50
	pub, err := events.NewPublisher(events.MQTTConfig{Address: b.Addr(), TopicPrefix: "down", BufferSize: buffer,
		ConnectRetryInterval: 200 * time.Millisecond, MaxReconnectInterval: time.Second, PublishTimeout: 2 * time.Second,
		Metrics: m, Log: zerolog.Nop()})
	require.NoError(t, err)
	defer pub.Close()
	require.Eventually(t, func() bool { return value(t, reg, "dm_manager_mqtt_connected") == 1 }, 10*time.Second,
		10*time.Millisecond)

	b.Stop()
	require.Eventually(t, func() bool { return value(t, reg, "dm_manager_mqtt_connected") == 0 }, 10*time.Second,
		10*time.Millisecond, "the publisher noticed the loss")

	// Emit for the whole outage: 10 events every 100 ms, each call timed.
	outage := time.NewTimer(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var slowest time.Duration
	n := 0
	for done := false; !done; {
		select {
		case <-outage.C:
			done = true
		case <-tick.C:
			for range 10 {
				start := time.Now()
				pub.Emit(events.Event{Kind: events.PowerDone, Tenant: "t", GUID: "g-" + fmt.Sprint(n)})
				slowest = max(slowest, time.Since(start))
				n++
			}
		}
	}
	t.Logf("%d events emitted during the outage; slowest Emit %s", n, slowest)
	require.Less(t, slowest, 100*time.Millisecond, "Emit does not wait for the broker")
	dropped := value(t, reg, "dm_manager_events_dropped_total", "sink", "mqtt", "reason", "buffer_full")
	require.InDelta(t, float64(n-buffer), dropped, 1, "all but the buffered events dropped and counted")

	sub := func() *mqtttest.Subscriber {
		b.Start()
		return mqtttest.Subscribe(t, b.Addr(), "down/#")
	}()
	require.Eventually(t, func() bool { return value(t, reg, "dm_manager_mqtt_connected") == 1 }, 20*time.Second,
		10*time.Millisecond, "reconnected")
	// The buffer is still full right after the reconnect: an event emitted before it drains would be dropped.
	require.Eventually(t, func() bool {
		return value(t, reg, "dm_manager_events_buffered", "sink", "mqtt") == 0
	}, 20*time.Second, 10*time.Millisecond, "the buffer drained")
	pub.Emit(events.Event{Kind: events.CIRAConnected, Tenant: "t", GUID: "after"})
	sub.WaitFor(t, 20*time.Second, "an event emitted after the recovery", func(ms []mqtttest.Message) bool {
		for _, msg := range ms {
			if strings.HasSuffix(msg.Topic, "/after/cira_connected") {
				return true
			}
		}
		return false
	})
	require.GreaterOrEqual(t, value(t, reg, "dm_manager_events_published_total", "sink", "mqtt", "kind", "power_done"),
		float64(buffer), "the buffered events were published")
}
