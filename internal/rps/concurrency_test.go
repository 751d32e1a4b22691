package rps_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/rps"
	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/amtsim/rpc"
)

// activateFleet activates n fresh simulated devices of one tenant at once and returns how long it took.
func activateFleet(t testing.TB, e *env, tenant string, n int) time.Duration {
	return activateDevices(t, e, tenant, n, amtsim.Config{})
}

// activateDevices is activateFleet with a device template (e.g. TLS-enforcing devices).
func activateDevices(t testing.TB, e *env, tenant string, n int, tmpl amtsim.Config) time.Duration {
	t.Helper()
	fleet, err := amtsim.NewFleet(n, fmt.Sprintf("%s-%d", tenant, time.Now().UnixNano()), tmpl)
	require.NoError(t, err)
	for _, d := range fleet.Devices() {
		e.hosts.set(tenant, d.GUID().String(), rps.Host{ResourceID: "host", DesiredAMT: rps.AMTStateProvisioned})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	errs := make(chan error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for _, d := range fleet.Devices() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := rpc.Run(ctx, d, rpc.Config{URL: e.url, Command: rpc.ActivateCommand(tenant+"_ccm", false)})
			switch {
			case err != nil:
				errs <- err
			case !res.OK() || d.Mode() != amtsim.ClientControl || !d.CIRA().Configured():
				errs <- fmt.Errorf("%s: %s", d.GUID(), res.Message)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for range n {
		require.True(t, e.outcome(t).OK)
	}
	return took
}

func TestConcurrentActivations(t *testing.T) {
	e := newEnv(t, nil)
	tenant := newTenant(t, "dynamic")
	took := activateFleet(t, e, tenant, 20)
	t.Logf("20 concurrent CCM activations in %s", took)
	require.Equal(t, 20.0, counter(t, e.reg, "rps_outcomes_total", "activate", "success"))
}

// BenchmarkConcurrentActivations200 activates 200 simulated devices at once over loopback, with no artificial
// delays (go test -run '^$' -bench Concurrent -benchtime 1x ./internal/rps).
func BenchmarkConcurrentActivations200(b *testing.B) {
	e := newEnv(b, func(c *rps.Config) { c.StepTimeout = time.Minute })
	tenant := newTenant(b, "dynamic")
	var total time.Duration
	for range b.N {
		total += activateFleet(b, e, tenant, 200)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/200-activations")
}

// BenchmarkConcurrentTLSActivations200 activates 200 TLS-enforcing (AMT 19+) devices at once through rpc-go's TLS
// tunnel: "nodelay" with no waits, "amtdelays" with the waits real AMT needs (12 s after Setup, 15 s TLS rollover
// as the port switch delay; the simulated rollover is 1 s) and heartbeats every 5 s
// (go test -run '^$' -bench ConcurrentTLS -benchtime 1x ./internal/rps).
func BenchmarkConcurrentTLSActivations200(b *testing.B) {
	for _, bc := range []struct {
		name               string
		postSetup, switch_ time.Duration
	}{{"nodelay", -1, -1}, {"amtdelays", 12 * time.Second, 15 * time.Second}} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnv(b, func(c *rps.Config) {
				c.StepTimeout, c.PostSetupDelay, c.TLSRolloverDelay = time.Minute, bc.postSetup, bc.switch_
				c.TLSRetryDelay, c.HeartbeatInterval = time.Second, 5*time.Second
			})
			tenant := newTenant(b, "dynamic")
			rollover := time.Second
			if bc.switch_ < 0 {
				rollover = time.Millisecond
			}
			var total time.Duration
			for range b.N {
				total += activateDevices(b, e, tenant, 200, amtsim.Config{TLSEnforced: true, RolloverDelay: rollover})
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/200-activations")
		})
	}
}
