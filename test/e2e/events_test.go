package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/config"
	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
	"github.com/dmrm/dm-manager/internal/events"
	"github.com/dmrm/dm-manager/internal/events/mqtttest"
	"github.com/dmrm/dm-manager/test/amtsim"
)

// eventArgs turns on what this file checks in every dm-manager of the suite: /metrics on a loopback port, and
// MQTT events to the shared broker under a topic prefix of its own, when the broker runs (scripts/testenv.sh).
func eventArgs(testing.TB) []string {
	args := []string{"-enableMetrics=true", "-metricsAddress=127.0.0.1:0"}
	if c, err := net.DialTimeout("tcp", mqtttest.SharedAddress, time.Second); err == nil {
		_ = c.Close()
		args = append(args, "-mqttAddress="+mqtttest.SharedAddress, "-mqttTopicPrefix=e2e-"+uuid.NewString()[:8])
	}
	return args
}

// subscribeEvents subscribes to everything the dm-manager of cfg publishes, before it starts; every message also
// goes to the leak scan (secrets_scan_test.go). Nil without MQTT.
func subscribeEvents(tb testing.TB, cfg *config.Config) *mqtttest.Subscriber {
	if cfg.MQTTAddress == "" {
		return nil
	}
	return mqtttest.SubscribeWith(tb, cfg.MQTTAddress, cfg.MQTTTopicPrefix+"/#", func(m mqtttest.Message) {
		mqttLog.add(m.Topic + " " + string(m.Payload))
	})
}

// Every kind of event arrives on MQTT at its tenant's topic as the flows happen, the audit trail answers the same
// through REST, and every metric the chart's dashboard and alerts use exists on /metrics afterwards.
func TestEvents(t *testing.T) {
	mqtttest.Shared(t)
	d := startDM(t, "dmm_e2e_events_test")
	tenant := d.newTenant(t)
	tok := userToken(t, tenant)
	pki := certtest.New(t)
	code, body := d.rest(t, http.MethodPost, tenant, "amt/admin/domains", tok,
		domainBody("ev-domain", certtest.Suffix, pki.PFX(t, certtest.Password), certtest.Password))
	require.Equal(t, http.StatusCreated, code, body)

	// activation started/succeeded, cira connected, power requested/done, deactivation started/done (the host
	// reconciler), cira disconnected.
	ccmLifecycle(t, d, tenant)
	// activation started/failed.
	missingProfile(t, d, tenant)
	// power failed: a reset asked of a host that is off cannot be carried out.
	dev := d.provisioned(t, tenant, 1)[0]
	id := online(t, d, tenant, dev, immediate)
	setDesiredPower(t, tenant, id, psOff)
	d.watch.waitHost(t, id, "powered off", powerIs(psOff, "Powered off"))
	setDesiredPower(t, tenant, id, computev1.PowerState_POWER_STATE_RESET)
	// deactivation failed: AMT refuses Unprovision (ReturnValue 2076, a blocking component) and keeps its setup.
	blocked := d.provisioned(t, tenant, 1)[0]
	blocked.BlockUnprovision(true)
	bid := online(t, d, tenant, blocked, immediate)
	setDesiredAMT(t, tenant, bid, amtUnprovisioned)
	d.watch.waitHost(t, bid, "deactivation refused", func(h *computev1.HostResource) bool {
		return strings.HasPrefix(h.GetAmtStatus(), "AMT deactivation failed")
	})
	require.NotEqual(t, amtsim.PreProvisioning, blocked.Mode(), "a refused Unprovision changes nothing")

	code, body = d.rest(t, http.MethodDelete, tenant, "amt/admin/domains/ev-domain", tok, nil)
	require.Equal(t, http.StatusNoContent, code, body)

	want := []events.Kind{events.DomainAdded, events.ActivationStarted, events.ActivationSucceeded,
		events.CIRAConnected, events.PowerRequested, events.PowerDone, events.DeactivationStarted, events.Deactivated,
		events.CIRADisconnected, events.ActivationFailed, events.PowerFailed, events.DeactivationFailed,
		events.DomainRemoved}
	prefix := d.cfg.MQTTTopicPrefix + "/" + tenant + "/"
	got := d.mqtt.WaitFor(t, 2*waitLong, "every kind of event", func(ms []mqtttest.Message) bool {
		seen := map[events.Kind]bool{}
		for _, m := range ms {
			if p, err := events.ParsePayload(m.Payload); err == nil && strings.HasPrefix(m.Topic, prefix) {
				seen[p.Kind] = true
			}
		}
		for _, k := range want {
			if !seen[k] {
				return false
			}
		}
		return true
	})
	refusals := 0
	for _, m := range got {
		p, err := events.ParsePayload(m.Payload)
		require.NoError(t, err, m.Topic)
		if p.Kind == events.DeactivationFailed {
			require.Equal(t, strings.ToLower(blocked.guid), p.GUID, "only the blocked device's deactivation fails")
			require.Contains(t, p.Message, "ReturnValue 2076")
			refusals++
		}
		require.Equal(t, p.Tenant, strings.Split(m.Topic, "/")[1], "the topic names the event's tenant")
		require.True(t, strings.HasSuffix(m.Topic, "/"+string(p.Kind)), m.Topic)
		if p.Kind == events.PowerDone && p.GUID == strings.ToLower(dev.guid) {
			require.Equal(t, "POWER_STATE_OFF", p.Desired)
			require.Equal(t, 8, p.AMTValue, "IMMEDIATE off: the hard action")
			require.Equal(t, "hard", p.Action)
		}
	}

	// The audit trail holds the same events (written asynchronously, in batches).
	eventually(t, waitLong, "the device's events in the audit trail", func() (bool, string) {
		code, body := d.rest(t, http.MethodGet, tenant, "events?guid="+dev.guid, tok, nil)
		var out struct {
			Events []events.Payload `json:"events"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &out) != nil {
			return false, body
		}
		var kinds []events.Kind
		for _, p := range out.Events {
			kinds = append(kinds, p.Kind)
		}
		return slices.Contains(kinds, events.CIRAConnected) && slices.Contains(kinds, events.PowerDone) &&
			slices.Contains(kinds, events.PowerFailed), body
	})
	require.Positive(t, refusals)
	eventually(t, waitLong, "the refused deactivation in the audit trail", func() (bool, string) {
		code, body := d.rest(t, http.MethodGet, tenant, "events?guid="+blocked.guid, tok, nil)
		var out struct {
			Events []events.Payload `json:"events"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &out) != nil {
			return false, body
		}
		for _, p := range out.Events {
			if p.Kind == events.DeactivationFailed && strings.Contains(p.Message, "ReturnValue 2076") {
				return true, ""
			}
		}
		return false, body
	})
	other := d.newTenant(t)
	code, _ = d.rest(t, http.MethodGet, tenant, "events", userToken(t, other), nil)
	require.Equal(t, http.StatusForbidden, code, "another project's user reads nothing")

	requireDashboardMetrics(t, d)
}

// requireDashboardMetrics: every dm_manager_* series named by the chart's dashboard and alert rules is served.
func requireDashboardMetrics(t *testing.T, d *dm) {
	t.Helper()
	resp, err := restClient.Get("http://" + d.ready.Metrics + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	served, sums := map[string]bool{}, map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if name, _, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(line, "#") {
			name, _, _ = strings.Cut(name, "{")
			served[name] = true
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sums[name] += v
		}
	}
	for _, n := range []string{"dm_manager_ciragw_wsman_latency_seconds_count", "dm_manager_reconciles_total",
		"dm_manager_power_actions_total", "dm_manager_activations_total", "dm_manager_inventory_writes_total"} {
		require.Positive(t, sums[n], "%s is zero after the flows", n)
	}
	used := map[string]bool{}
	re := regexp.MustCompile(`dm_manager_[a-z_]+`)
	for _, f := range []string{"../../charts/dm-manager/dashboards/dm-manager.json",
		"../../charts/dm-manager/templates/prometheusrule.yaml"} {
		b, err := os.ReadFile(filepath.Clean(f))
		require.NoError(t, err)
		for _, n := range re.FindAllString(string(b), -1) {
			used[n] = true
		}
	}
	require.NotEmpty(t, used)
	for n := range used {
		require.True(t, served[n], "%s (used by the dashboard or the alerts) is not on /metrics", n)
	}
	t.Logf("%d dm_manager metric names of the dashboard and alerts are served", len(used))
}
