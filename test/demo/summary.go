package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"

	"github.com/dmrm/dm-manager/test/hip/rig"
)

// summary prints the end state, the timings and Inventory's write count, and fails if any host is not where it
// was asked to be.
func (d *demo) summary(ctx context.Context) error {
	hosts, err := d.api.Hosts(ctx)
	if err != nil {
		return err
	}
	d.out.step(7, "Summary")
	amt, power := map[string]int{}, map[string]int{}
	converged := 0
	for _, h := range hosts {
		amt[rig.Short(h.GetCurrentAmtState())]++
		power[rig.Short(h.GetCurrentPowerState())]++
		if h.GetCurrentPowerState() == h.GetDesiredPowerState() &&
			h.GetCurrentAmtState() == computev1.AmtState_AMT_STATE_PROVISIONED {
			converged++
		}
	}
	d.out.line("hosts: %d; converged (current = desired): %d/%d", len(hosts), converged, len(hosts))
	d.out.line("AMT:   %s", counts(amt))
	d.out.line("power: %s", counts(power))
	d.out.line("devices: %d rpc activate runs, %d CIRA tunnels up", d.fleet.activations(), d.fleet.linksUp())
	for _, t := range d.timings {
		d.out.line("%-24s %s", t.what+":", round(t.took))
	}
	if d.o.inventoryMetrics != "" {
		if w, err := readWrites(ctx, d.o.inventoryMetrics); err == nil {
			total := w.total() - d.writes0.total()
			dm := total - float64(d.own)
			d.out.line("Inventory writes:        %.0f (demo as user/tenant controller: %d; dm-manager: %.0f, %.1f per host)",
				total, d.own, dm, dm/float64(len(hosts)))
		} else {
			d.out.line("Inventory writes:        not measured (%v)", err)
		}
	}
	d.out.line("elapsed:                 %s", round(time.Since(d.start)))
	if converged != len(d.uuids) || len(hosts) != len(d.uuids) {
		return fmt.Errorf("%d of %d hosts converged", converged, len(d.uuids))
	}
	d.out.line("DEMO OK")
	return nil
}

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}
