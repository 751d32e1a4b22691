package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
)

func TestPlanGivesEveryRoleAHost(t *testing.T) {
	for _, n := range []int{minHosts, 7, 20, 100} {
		roles := plan(n)
		require.Len(t, roles, n)
		count := map[string]int{}
		hung, backOn := 0, 0
		for _, r := range roles {
			count[r.what]++
			if r.hung {
				hung++
				require.Equal(t, off, r.want, "the hung host is the one asked to power off")
			}
			if r.backOn {
				backOn++
				require.Equal(t, off, r.want, "only hosts turned off come back on")
			}
		}
		require.Equal(t, 1, hung, "n=%d", n)
		require.Len(t, count, 6, "n=%d: every role, including left ON: %v", n, count)
		require.Positive(t, backOn)
		require.Positive(t, count["left ON"], "n=%d", n)
	}
}

func TestPlanFor20(t *testing.T) {
	count := map[computev1.PowerState]int{}
	for _, r := range plan(20) {
		count[r.want]++
	}
	require.Equal(t, map[computev1.PowerState]int{off: 9, reset: 4, cycle: 2, on: 5}, count)
}

const metricsSample = `# HELP grpc_server_handled_total Total number of RPCs completed on the server, regardless of success or failure.
# TYPE grpc_server_handled_total counter
grpc_server_handled_total{grpc_code="OK",grpc_method="UpdateResource",grpc_service="inventory.v1.InventoryService",grpc_type="unary"} 140
grpc_server_handled_total{grpc_code="PermissionDenied",grpc_method="UpdateResource",grpc_service="inventory.v1.InventoryService",grpc_type="unary"} 2
grpc_server_handled_total{grpc_code="OK",grpc_method="CreateResource",grpc_service="inventory.v1.InventoryService",grpc_type="unary"} 21
grpc_server_handled_total{grpc_code="OK",grpc_method="ListResources",grpc_service="inventory.v1.InventoryService",grpc_type="unary"} 900
`

func TestParseWrites(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want writeCounts
	}{
		{"sample", metricsSample, writeCounts{"UpdateResource": 142, "CreateResource": 21}},
		{"no grpc metrics yet", "# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines 12\n", writeCounts{}},
		{"empty", "", writeCounts{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseWrites(strings.NewReader(tc.in))
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	_, err := parseWrites(strings.NewReader("grpc_server_handled_total{ 1\n"))
	require.Error(t, err)
}

func FuzzParseWrites(f *testing.F) {
	f.Add(metricsSample)
	f.Add("grpc_server_handled_total{grpc_method=\"DeleteResource\"} 1e3\n")
	f.Fuzz(func(t *testing.T, in string) {
		w, err := parseWrites(strings.NewReader(in))
		if err == nil {
			for m := range w {
				require.True(t, writeMethods[m], "only write methods are counted, got %q", m)
			}
		}
	})
}

func testHosts() ([]*computev1.HostResource, map[string]string) {
	a := &computev1.HostResource{Uuid: "11111111-0000-0000-0000-000000000000", DesiredPowerState: off,
		CurrentPowerState: computev1.PowerState_POWER_STATE_ON, PowerStatus: "Powering off: shutdown requested from the OS; hard power off after 5s if it does not finish",
		PowerStatusIndicator: 2, CurrentAmtState: computev1.AmtState_AMT_STATE_PROVISIONED, AmtStatus: "AMT connected", AmtStatusIndicator: 3}
	b := &computev1.HostResource{Uuid: "22222222-0000-0000-0000-000000000000", DesiredPowerState: on}
	return []*computev1.HostResource{b, a}, map[string]string{a.Uuid: "edge-01", b.Uuid: "edge-02"}
}

func TestRenderTable(t *testing.T) {
	hosts, names := testHosts()
	out := renderTable("power changes", hosts, names)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	require.Len(t, lines, 4, out)
	require.Contains(t, lines[2], "edge-01", "rows are sorted by name")
	require.Contains(t, lines[2], "… Powering off: shutdown requested from the…", "in-progress mark and clipping")
	require.Contains(t, lines[2], "PROVISIONED  AMT connected")
	require.Contains(t, lines[3], "edge-02  22222222  ON          UNSPECIFIED -")
}

func TestPlainOutputPrintsChangesOnly(t *testing.T) {
	hosts, names := testHosts()
	var buf bytes.Buffer
	o := &output{w: &buf, start: time.Now()}
	o.table("t", hosts, names, false)
	first := buf.Len()
	require.Positive(t, first)
	o.table("t", hosts, names, false) // unchanged: nothing
	require.Equal(t, first, buf.Len())
	hosts[0].CurrentPowerState = on
	o.table("t", hosts, names, false) // changed within plainEvery: held back
	require.Equal(t, first, buf.Len())
	o.line("next")
	require.Contains(t, buf.String()[first:], "edge-02  22222222  ON          ON", "a held-back table is printed before the next line")
	require.True(t, strings.HasSuffix(buf.String(), "next\n"))
}

func TestFlags(t *testing.T) {
	_, err := parseFlags([]string{"-hosts", "3"}, io.Discard)
	require.ErrorContains(t, err, "missing -activationURL, -databaseURL, -dmHealthAddress, -dmServerAddress, -inventoryAddress")
	_, err = parseFlags([]string{"-inventoryAddress=a", "-dmServerAddress=b", "-activationURL=ws://c/activate",
		"-dmHealthAddress=d", "-databaseURL=e", "-hosts=3"}, io.Discard)
	require.ErrorContains(t, err, "-hosts must be at least 6")
	o, err := parseFlags([]string{"-inventoryAddress=a", "-dmServerAddress=b", "-activationURL=ws://c/activate",
		"-dmHealthAddress=d", "-databaseURL=e"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 20, o.hosts)
}

func TestFleetDone(t *testing.T) {
	s := "amtsim summary after 0s: 20 devices\n  activation: 20 ok, 0 failed, 0 not run (p50 1s, p95 1s, max 1s)\n" +
		"  modes: pre-provisioning 0, ccm 20, acm 0; CIRA configured 20, tunnels up 20; rss 17.1 MB\n"
	require.True(t, fleetDone(s, "ccm", 20))
	require.False(t, fleetDone(s, "acm", 20))
	require.False(t, fleetDone(strings.Replace(s, "tunnels up 20", "tunnels up 19", 1), "ccm", 20))
	require.False(t, fleetDone(strings.Replace(s, "20 ok, 0 failed", "19 ok, 1 failed", 1), "ccm", 20))
	require.False(t, fleetDone("garbage", "ccm", 20))
}
