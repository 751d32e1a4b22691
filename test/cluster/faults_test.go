package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
)

const (
	auditPowerCycle = 1702
	auditReset      = 1703
	auditSoftReset  = 1706
)

// killDuringResets asks every host for an ORDERED reset and kills -9 the replica holding most devices while the
// sequences run. Its devices reconnect through HAProxy to the others within 30 s, every sequence ends, and no
// device receives a reset (soft or hard) twice.
func (c *cluster) killDuringResets(ctx context.Context, t *testing.T) {
	c.setPower(ctx, t, c.guids, computev1.PowerState_POWER_STATE_ON)
	c.waitPower(ctx, t, c.guids, computev1.PowerState_POWER_STATE_ON, c.convergeBudget())
	before := map[string]map[int]int{}
	for i, d := range c.fleet.Devices() {
		before[c.guids[i]] = auditCounts(t, d)
	}
	owners := c.waitConnected(ctx, t, nil)
	victim := c.replicas[0]
	for _, r := range c.replicas {
		if owners[r.id] > owners[victim.id] {
			victim = r
		}
	}
	c.setPower(ctx, t, c.guids, computev1.PowerState_POWER_STATE_RESET)
	// Kill once sequences are under way: some journaled, some sent, some not yet started.
	poll(ctx, t, "first resets sent", func() bool {
		for i, d := range c.fleet.Devices() {
			if auditCounts(t, d)[auditSoftReset] > before[c.guids[i]][auditSoftReset] {
				return true
			}
		}
		return false
	})
	killed := time.Now()
	victim.p.kill()
	defer victim.start(ctx, t) // back for the rolling restart
	t.Logf("killed %s (held %d devices)", victim.id, owners[victim.id])
	after := c.waitConnected(ctx, t, []string{victim.id})
	took := time.Since(killed)
	t.Logf("all devices on the other replicas %s after the kill: %v", took.Round(time.Millisecond), after)
	require.Less(t, took, 30*time.Second)

	status := map[string]string{}
	for _, g := range c.guids {
		h, err := c.api.WaitHost(ctx, g, "reset sequence ended", c.convergeBudget(), func(h *computev1.HostResource) bool {
			return h.GetCurrentPowerState() == computev1.PowerState_POWER_STATE_RESET &&
				h.GetPowerStatusIndicator() != statusInProgress
		})
		require.NoError(t, err)
		status[g] = h.GetPowerStatus()
	}
	var notReset []string
	for i, d := range c.fleet.Devices() {
		now := auditCounts(t, d)
		delta := map[int]int{}
		for k, v := range now {
			if v -= before[c.guids[i]][k]; v != 0 {
				delta[k] = v
			}
		}
		for _, edge := range []int{auditSoftReset, auditReset, auditPowerCycle} {
			require.LessOrEqual(t, delta[edge], 1, "device %s received event %d twice: %v", c.guids[i], edge, delta)
		}
		if delta[auditSoftReset]+delta[auditReset] == 0 {
			notReset = append(notReset, c.guids[i])
		}
	}
	// A reset the killed replica may have sent (journaled as in flight, then killed) is not sent again, so a device
	// can end with no reset: Inventory must then say the outcome is unknown, never "Reset done".
	t.Logf("devices whose reset was never carried out (in flight on the killed replica): %d %v", len(notReset), notReset)
	unknown := 0
	for _, g := range c.guids {
		if strings.HasPrefix(status[g], "Reset outcome unknown") {
			unknown++
		}
	}
	t.Logf("devices whose reset outcome is reported unknown: %d", unknown)
	for _, g := range notReset {
		require.True(t, strings.HasPrefix(status[g], "Reset outcome unknown"),
			"device %s was never reset, yet Inventory reads %q", g, status[g])
	}
}

// rollingRestart stops each replica with SIGTERM and starts it again, one at a time, as a Deployment's rolling
// update does. A power change asked for during each step is not lost; after each step every device is connected
// again and every REST read on every replica answers.
func (c *cluster) rollingRestart(ctx context.Context, t *testing.T) {
	want := []computev1.PowerState{computev1.PowerState_POWER_STATE_OFF, computev1.PowerState_POWER_STATE_ON,
		computev1.PowerState_POWER_STATE_OFF}
	for i, r := range c.replicas {
		c.setPower(ctx, t, c.guids, want[i])
		stopAt := time.Now()
		require.NoError(t, r.p.stop(20*time.Second), "%s: graceful stop (drain)", r.id)
		drain := time.Since(stopAt)
		r.start(ctx, t)
		owners := c.waitConnected(ctx, t, nil)
		t.Logf("%s: drained in %s, back and all devices connected %s after SIGTERM: %v", r.id,
			drain.Round(time.Millisecond), time.Since(stopAt).Round(time.Millisecond), owners)
		c.waitPower(ctx, t, c.guids, want[i], c.convergeBudget())
		c.readAll(ctx, t, c.replicas)
	}
}

const statusInProgress = 2 // statusv1.StatusIndication_STATUS_INDICATION_IN_PROGRESS
