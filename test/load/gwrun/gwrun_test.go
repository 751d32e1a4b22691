package gwrun

import (
	"bytes"
	"context"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/test/load/devrun"
)

// TestRunSmallFleet runs the whole harness in one process with a few devices:
// activation, ramp over two source addresses, idle keepalives, WS-Man.
func TestRunSmallFleet(t *testing.T) {
	const n = 12
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	devCtx, stopDevices := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopDevices()

	var out bytes.Buffer
	res, err := Run(ctx, Options{
		Addr: "127.0.0.1:0", Name: "cira.load.test", N: n, Seed: "test",
		Keepalive: time.Second, IdleWindow: 2500 * time.Millisecond, RampTimeout: time.Minute,
		Rate: 20, Duration: time.Second, QueryTimeout: 10 * time.Second,
		Out: &out, Log: zerolog.Nop(),
		Ready: func(addr string, rootPEM []byte) error {
			fleet, err := devrun.Provision(ctx, devrun.Options{
				N: n, GUIDSeed: "test", CredSeed: "test", Gateway: addr, GatewayName: "cira.load.test",
				RootCAPEM: rootPEM, Sources: []string{"127.0.1.1", "127.0.1.2"}, RampRate: 100, MaxDialing: 4,
				MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Log: zerolog.Nop(),
			})
			if err != nil {
				return err
			}
			wg.Go(func() { fleet.Ramp(devCtx) })
			return nil
		},
	})
	t.Log("\n" + out.String() + res.Line())
	require.NoError(t, err, out.String())
	require.Equal(t, n, res.Connected, out.String())
	require.Zero(t, res.Errors(), out.String())
	require.Len(t, res.Queries.latencies, 20)
	// Each device sends a keepalive per second: two or more each in the window.
	require.GreaterOrEqual(t, res.Keepalives, float64(2*n), out.String())
	require.Regexp(t, regexp.MustCompile(`^load: devices=12 connected=12 up_s=[0-9.]+ rss_kb_per_session=-?[0-9.]+ keepalive_cpu_pct=[0-9.]+ wsman_p50_ms=[0-9.]+ wsman_p99_ms=[0-9.]+ errors=0$`), res.Line())
}

func TestPercentile(t *testing.T) {
	q := queryStats{}
	for i := 1; i <= 100; i++ {
		q.latencies = append(q.latencies, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 51 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}} {
		require.Equal(t, tc.want, q.pct(tc.p), "p%v", tc.p)
	}
	require.Zero(t, queryStats{}.pct(0.99))
}
