package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"

	"github.com/dmrm/dm-manager/test/amtsim"
)

const (
	on        = computev1.PowerState_POWER_STATE_ON
	off       = computev1.PowerState_POWER_STATE_OFF
	reset     = computev1.PowerState_POWER_STATE_RESET
	cycle     = computev1.PowerState_POWER_STATE_POWER_CYCLE
	ordered   = computev1.PowerCommandPolicy_POWER_COMMAND_POLICY_ORDERED
	immediate = computev1.PowerCommandPolicy_POWER_COMMAND_POLICY_IMMEDIATE
)

// role is what the story does to one host.
type role struct {
	what   string // shown in the plan
	want   computev1.PowerState
	policy computev1.PowerCommandPolicy
	hung   bool // the host's OS hangs: it ignores the graceful shutdown
	backOn bool // powered on again in the last act
}

// minHosts gives every role at least one host and leaves one untouched.
const minHosts = 6

// plan assigns roles in host order: one hung OS, a quarter ORDERED off, some IMMEDIATE off, a fifth RESET, some
// POWER_CYCLE, the rest left on. The hung host, half the ORDERED ones and the IMMEDIATE ones come back on.
func plan(n int) []role {
	count := func(num, den int) int { return max(1, n*num/den) }
	var roles []role
	add := func(k int, r role) {
		for range k {
			roles = append(roles, r)
		}
	}
	add(1, role{what: "OFF, ORDERED, OS hung: the OS ignores the shutdown, so dm-manager forces a hard off after the soft timeout",
		want: off, policy: ordered, hung: true, backOn: true})
	nOrdered := count(1, 4)
	add((nOrdered+1)/2, role{what: "OFF, ORDERED: the OS shuts down gracefully", want: off, policy: ordered, backOn: true})
	add(nOrdered/2, role{what: "OFF, ORDERED: the OS shuts down gracefully", want: off, policy: ordered})
	add(count(3, 20), role{what: "OFF, IMMEDIATE: hard power off at once", want: off, policy: immediate, backOn: true})
	add(count(1, 5), role{what: "RESET, ORDERED: the OS restarts", want: reset, policy: ordered})
	add(count(1, 10), role{what: "POWER_CYCLE: hardware power cycle", want: cycle, policy: ordered})
	for len(roles) < n {
		roles = append(roles, role{what: "left ON", want: on, policy: ordered})
	}
	return roles[:n]
}

// powerStory changes power states the way users do and shows the hosts converge, then brings some back on.
func (d *demo) powerStory(ctx context.Context) error {
	roles := plan(len(d.uuids))
	d.out.step(5, "Users change power states (dm-manager -softPowerTimeout %s):", d.o.softPowerTimeout)
	d.printPlan(roles)
	t1 := time.Now()
	for i, id := range d.uuids {
		r := roles[i]
		if r.hung {
			d.fleet.devices[id].SetOSHung(true)
		}
		if r.want == on {
			continue
		}
		if err := d.api.SetPower(ctx, id, r.want, r.policy); err != nil {
			return err
		}
		d.own++
	}
	if err := d.converge(ctx, "power changes", func(h *computev1.HostResource) bool {
		return h.GetCurrentPowerState() == h.GetDesiredPowerState()
	}); err != nil {
		return err
	}
	d.timings = append(d.timings, timing{"power changes", time.Since(t1)})
	if err := d.checkDevices(ctx, roles, false); err != nil {
		return err
	}
	if err := d.reportPhase(t1, roles); err != nil {
		return err
	}

	d.out.step(6, "Some hosts are powered back ON (ORDERED); the hung host's OS boots fresh")
	t2 := time.Now()
	for i, id := range d.uuids {
		if !roles[i].backOn {
			continue
		}
		d.fleet.devices[id].SetOSHung(false)
		if err := d.api.SetPower(ctx, id, on, ordered); err != nil {
			return err
		}
		d.own++
	}
	if err := d.converge(ctx, "back on", func(h *computev1.HostResource) bool {
		return h.GetCurrentPowerState() == h.GetDesiredPowerState()
	}); err != nil {
		return err
	}
	d.timings = append(d.timings, timing{"power back on", time.Since(t2)})
	return d.checkDevices(ctx, roles, true)
}

func (d *demo) printPlan(roles []role) {
	var order []string
	groups := map[string][]string{}
	for i, id := range d.uuids {
		w := roles[i].what
		if _, ok := groups[w]; !ok {
			order = append(order, w)
		}
		groups[w] = append(groups[w], d.names[id])
	}
	for _, w := range order {
		d.out.line("%-25s %s", span(groups[w]), w)
	}
}

// span shows a list of names as "a" or "a … z (n)".
func span(names []string) string {
	if len(names) == 1 {
		return names[0]
	}
	return fmt.Sprintf("%s … %s (%d)", names[0], names[len(names)-1], len(names))
}

// reportPhase shows how long each kind of change took and the hung host's statuses, which must include the soft
// power off timing out.
func (d *demo) reportPhase(t1 time.Time, roles []role) error {
	byWhat := map[string][]string{}
	var order []string
	for i, id := range d.uuids {
		if roles[i].want == on {
			continue
		}
		if _, ok := byWhat[roles[i].what]; !ok {
			order = append(order, roles[i].what)
		}
		byWhat[roles[i].what] = append(byWhat[roles[i].what], id)
	}
	done := func(h *computev1.HostResource) bool {
		return h.GetCurrentPowerState() == h.GetDesiredPowerState() && h.GetPowerStatusIndicator() != inProgress
	}
	for _, w := range order {
		p50, pmax := d.hist.percentiles(t1, byWhat[w], done)
		d.out.line("%-40s done in p50 %s, max %s", strings.SplitN(w, ":", 2)[0], round(p50), round(pmax))
	}
	for i, id := range d.uuids {
		if !roles[i].hung {
			continue
		}
		seen := d.hist.statuses(t1, id)
		d.out.line("%s (hung OS) power status went: %s", d.names[id], strings.Join(quoteAll(seen), " -> "))
		if !containsPrefix(seen, "Soft power off timed out") {
			return fmt.Errorf("%s: the hung OS host never showed the soft power off timing out (statuses %v)", d.names[id], seen)
		}
	}
	return nil
}

// checkDevices compares Inventory with the machines themselves (amtsim's power model). AMT carries out a hard
// action a moment after accepting it, which is when dm-manager reports it done, so each machine gets a few seconds.
func (d *demo) checkDevices(ctx context.Context, roles []role, after bool) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var wrong []string
	nOff, nOn := 0, 0
	for i, id := range d.uuids {
		want := amtsim.PowerOn
		if roles[i].want == off && (!after || !roles[i].backOn) {
			want = amtsim.PowerOff
		}
		s, err := d.fleet.devices[id].WaitFor(ctx, func(s amtsim.State) bool { return s.PowerState == want })
		switch {
		case err != nil:
			wrong = append(wrong, fmt.Sprintf("%s (machine power state %d, want %d)", d.names[id], s.PowerState, want))
		case want == amtsim.PowerOff:
			nOff++
		default:
			nOn++
		}
	}
	if len(wrong) > 0 {
		return fmt.Errorf("the machines disagree with Inventory: %s", strings.Join(wrong, ", "))
	}
	d.out.line("the machines agree with Inventory: %d off, %d on (read from the simulated firmware)", nOff, nOn)
	return nil
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}

func containsPrefix(s []string, prefix string) bool {
	for _, v := range s {
		if strings.HasPrefix(v, prefix) {
			return true
		}
	}
	return false
}
