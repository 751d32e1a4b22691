package serverun

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	"golang.org/x/sync/errgroup"

	"github.com/dmrm/dm-manager/test/load/openloop"
)

// userChange turns up to 20 hosts off, as a user does through the EIM API, while the periodic resync has many
// hosts queued (Options.ResyncWait is waited for that at most), and reports how long each took to show power OFF
// in Inventory: what a user waits for a change at this scale.
func (s *system) userChange(ctx context.Context, hc *http.Client) error {
	const depth = "dm_manager_reconcile_queue_depth"
	userChanges := min(20, len(s.guids))
	queued := 0.0
	for deadline := time.Now().Add(s.o.ResyncWait); time.Now().Before(deadline); {
		var err error
		if queued, err = s.sumOf(ctx, hc, depth); err != nil {
			return err
		}
		if queued >= float64(len(s.guids)/4) {
			break
		}
		if err := openloop.Sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	took := make([]time.Duration, userChanges)
	g, gctx := errgroup.WithContext(ctx)
	for i := range userChanges {
		guid := s.guids[i*len(s.guids)/userChanges]
		g.Go(func() error {
			t0 := time.Now()
			err := s.user.SetPower(gctx, guid, computev1.PowerState_POWER_STATE_OFF,
				computev1.PowerCommandPolicy_POWER_COMMAND_POLICY_IMMEDIATE)
			if err == nil {
				_, err = s.user.WaitHost(gctx, guid, "power OFF", 5*time.Minute, func(h *computev1.HostResource) bool {
					return h.GetCurrentPowerState() == computev1.PowerState_POWER_STATE_OFF
				})
			}
			took[i] = time.Since(t0)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("serverun: a user's power change: %w", err)
	}
	slices.Sort(took)
	s.say("user changes: %d hosts set to power OFF with %.0f host reconciles queued (the resync): shown OFF in Inventory after p50 %.2fs, max %.2fs",
		userChanges, queued, took[len(took)/2].Seconds(), took[len(took)-1].Seconds())
	return nil
}
