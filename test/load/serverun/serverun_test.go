package serverun

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/test/procs"
)

// TestServeSmallFleet runs `make load` end to end at a small size, so the harness does not rot: the real binaries,
// import, hosts in Inventory (LOAD_HOSTS=1), one fleet process, ramp, idle window, REST → WS-Man.
func TestServeSmallFleet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out bytes.Buffer
	dir := t.TempDir()
	res, err := Run(ctx, Options{N: 12, Replicas: 1, RampRate: 100, MaxDialing: 4, Sources: 2, Hosts: true,
		ResyncWait: time.Second, Settle: 100 * time.Millisecond, IdleWindow: time.Second, Rate: 20, Duration: time.Second,
		Dir: dir, BinDir: binDir(t), Profile: true, Out: &out})
	t.Log("\n" + out.String() + res.Line())
	require.NoError(t, err, out.String())
	require.Equal(t, 12, res.Connected, out.String())
	require.Zero(t, res.Errors(), out.String())
	require.Len(t, res.REST.latencies, 20)
	require.Contains(t, out.String(), "load: 12 hosts created in Inventory")
	require.Regexp(t, `load: user changes: 12 hosts set to power OFF with [0-9]+ host reconciles queued`, out.String())
	require.Regexp(t, `load: ramp CPU from the first session to the last: dm-manager serve [0-9.]+s \([0-9.]+ ms per device\), the fleet [0-9.]+s`, out.String())
	require.Regexp(t, regexp.MustCompile(`^load: devices=12 connected=12 up_s=[0-9.]+ rss_kb_per_session=-?[0-9.]+ keepalive_cpu_pct=[0-9.]+ wsman_p50_ms=[0-9.]+ wsman_p99_ms=[0-9.]+ errors=0 binary=dm-manager-serve$`), res.Line())

	// The fleets were collected before the REST phase, and the phase's second-by-second latency was written.
	require.NotContains(t, out.String(), "collecting its garbage", out.String())
	timeline, err := os.ReadFile(filepath.Join(dir, "rest-timeline.tsv"))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(timeline)), "\n")
	require.Equal(t, "second\trequests\tp50_ms\tp99_ms\tmax_ms", lines[0])
	require.GreaterOrEqual(t, len(lines), 2, string(timeline))
	// LOAD_PROFILE=1: the replica's, the fleet's and the client's profiles, and the REST phase's traces.
	for _, name := range []string{"replica-0-cpu-ramp.pprof", "replica-0-cpu-idle.pprof", "replica-0-cpu-rest.pprof",
		"replica-0-heap.pprof", "replica-0-heap-rest.pprof", "fleet-0-cpu-ramp.pprof", "fleet-0-cpu-idle.pprof",
		"fleet-0-cpu-rest.pprof", "client-cpu-rest.pprof", "replica-0-rest.trace", "fleet-0-rest.trace"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err, out.String())
		require.Positive(t, fi.Size(), name)
	}
}

func TestSumMetrics(t *testing.T) {
	page := `# HELP dm_manager_ciragw_sessions x
dm_manager_ciragw_sessions 12
dm_manager_ciragw_sessions_other 5
dm_manager_ciragw_handshakes_total{result="ok"} 10
dm_manager_ciragw_handshakes_total{result="timeout",x="a}b"} 2
`
	m, err := sumMetrics(strings.NewReader(page), "dm_manager_ciragw_sessions", "dm_manager_ciragw_handshakes_total")
	require.NoError(t, err)
	require.Equal(t, map[string]float64{"dm_manager_ciragw_sessions": 12, "dm_manager_ciragw_handshakes_total": 12}, m)
}

func TestSampleSelf(t *testing.T) {
	p, err := sampleProc(os.Getpid())
	require.NoError(t, err)
	require.Positive(t, p.rssKB)
}

// binDir is kept across runs, so that go build finds the binaries up to date instead of linking them again.
func binDir(t *testing.T) string {
	root, err := procs.RepoRoot()
	require.NoError(t, err)
	return filepath.Join(root, ".cache", "load-smoke", "bin")
}
