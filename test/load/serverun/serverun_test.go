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
// import, one fleet process, ramp, idle window, REST → WS-Man.
func TestServeSmallFleet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out bytes.Buffer
	res, err := Run(ctx, Options{N: 12, Replicas: 1, RampRate: 100, MaxDialing: 4, Sources: 2,
		Settle: 100 * time.Millisecond, IdleWindow: time.Second, Rate: 20, Duration: time.Second,
		Dir: t.TempDir(), BinDir: binDir(t), Out: &out})
	t.Log("\n" + out.String() + res.Line())
	require.NoError(t, err, out.String())
	require.Equal(t, 12, res.Connected, out.String())
	require.Zero(t, res.Errors(), out.String())
	require.Len(t, res.REST.latencies, 20)
	require.Regexp(t, regexp.MustCompile(`^load: devices=12 connected=12 up_s=[0-9.]+ rss_kb_per_session=-?[0-9.]+ keepalive_cpu_pct=[0-9.]+ wsman_p50_ms=[0-9.]+ wsman_p99_ms=[0-9.]+ errors=0 binary=dm-manager-serve$`), res.Line())
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
