package e2e

import (
	"context"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	inv_v1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/inventory/v1"

	"github.com/dmrm/dm-manager/test/invtest"
)

// Fleet size, and how many tunnels are brought up at a time (each wave waits until it is up).
const (
	benchHosts    = 1000
	benchWave     = 100
	benchWriters  = 8                // concurrent northbound writers changing the desired state
	benchDeadline = 90 * time.Second // per change; the target is 15 s
)

// BenchmarkPowerFleet: 1,000 hosts whose provisioned devices keep CIRA tunnels to the gateway; every host's
// desired power is changed at once through Inventory (IMMEDIATE OFF, then ON), and the time until Inventory reports
// current = desired for all of them is measured, with the Inventory writes dm-manager made per host and change
// (UPDATED events on those hosts, minus the user's own write). Targets: <= 15 s, <= 3 writes.
//
//	go test -run '^$' -bench PowerFleet ./test/e2e
//
// E2E_BENCH_PARALLELISM sets dm-manager's -parallelism (default 10, the production default).
func BenchmarkPowerFleet(b *testing.B) {
	par := 10
	if v, err := strconv.Atoi(os.Getenv("E2E_BENCH_PARALLELISM")); err == nil && v > 0 {
		par = v
	}
	setupStart := time.Now()
	d := startDM(b, "dmm_e2e_bench_test", "-reconcilePeriod=1m", "-parallelism="+strconv.Itoa(par))
	tenant := d.newTenant(b)
	devs := d.provisioned(b, tenant, benchHosts)
	ids := make([]string, len(devs))
	for i, dev := range devs {
		ids[i] = d.createHost(b, tenant, dev.guid, func(h *computev1.HostResource) {
			h.DesiredAmtState = amtProvisioned
			h.PowerCommandPolicy = immediate
		}).GetResourceId()
	}
	for start := 0; start < len(devs); start += benchWave {
		wave := devs[start:min(start+benchWave, len(devs))]
		for _, dev := range wave {
			d.connect(dev)
		}
		for _, dev := range wave {
			dev.waitLink(b, true)
		}
	}
	d.watch.waitAll(b, ids, "provisioned and on", func(h *computev1.HostResource) bool {
		return amtIs(amtProvisioned, "AMT connected")(h) && powerIs(psOn, "Powered on")(h)
	})
	b.Logf("setup: %d devices provisioned, imported, connected and reported in %s", len(devs),
		time.Since(setupStart).Round(time.Millisecond))

	for b.Loop() {
		for _, step := range []struct {
			name   string
			state  computev1.PowerState
			status string
		}{
			{"off", psOff, "Powered off"},
			{"on", psOn, "Powered on"},
		} {
			before := d.watch.updateCounts(ids)
			cpuBefore := cpuTime(b)
			start := time.Now()
			setAll(b, tenant, ids, step.state)
			written := time.Since(start)
			reached := d.watch.waitAll(b, ids, step.name, powerIs(step.state, step.status))
			lat := make([]time.Duration, len(reached))
			for j, at := range reached {
				lat[j] = at.Sub(start)
			}
			slices.Sort(lat)
			took := lat[len(lat)-1]
			cpu := cpuTime(b) - cpuBefore
			after := d.watch.updateCounts(ids)
			total, most := 0, 0
			for j := range ids {
				n := after[j] - before[j] - 1 // the user's own write is an UPDATED event too
				total += n
				most = max(most, n)
			}
			b.ReportMetric(took.Seconds(), "s/all-"+step.name)
			b.ReportMetric(float64(total)/float64(len(ids)), "writes/host-"+step.name)
			b.ReportMetric(float64(most), "max-writes/host-"+step.name)
			b.ReportMetric(cpu.Seconds(), "cpu-s-"+step.name)
			b.Logf("%s: %d hosts reached %s in %s (first %s, median %s, p90 %s; desired states written in %s); "+
				"dm-manager wrote %.2f times per host (max %d); process CPU %s", step.name, len(ids), step.state,
				round(took), round(lat[0]), round(lat[len(lat)/2]), round(lat[len(lat)*9/10]), round(written),
				float64(total)/float64(len(ids)), most, round(cpu))
		}
	}
}

// setAll writes every host's desired power state, benchWriters at a time, as many users (or one script) would.
func setAll(b *testing.B, tenant string, ids []string, s computev1.PowerState) {
	b.Helper()
	client := invtest.APIClient(b)
	jobs := make(chan string)
	errs := make(chan error, len(ids))
	var wg sync.WaitGroup
	for range benchWriters {
		wg.Go(func() {
			for id := range jobs {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := client.Update(ctx, tenant, id,
					&fieldmaskpb.FieldMask{Paths: []string{computev1.HostResourceFieldDesiredPowerState}},
					&inv_v1.Resource{Resource: &inv_v1.Resource_Host{Host: &computev1.HostResource{DesiredPowerState: s}}})
				cancel()
				if err != nil {
					errs <- err
				}
			}
		})
	}
	for _, id := range ids {
		jobs <- id
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(b, err, "setting the desired power state")
	}
}

func round(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

// cpuTime is the user+system CPU this test process (dm-manager, the in-process Inventory, the simulated fleet) has
// used so far: unlike wall time, it is not inflated by other work on the machine.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
