package chaos

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	statusv1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/status/v1"

	"github.com/dmrm/dm-manager/internal/secrets"
)

const idleInd = statusv1.StatusIndication_STATUS_INDICATION_IDLE

const (
	psOn        = computev1.PowerState_POWER_STATE_ON
	psOff       = computev1.PowerState_POWER_STATE_OFF
	psReset     = computev1.PowerState_POWER_STATE_RESET
	psCycle     = computev1.PowerState_POWER_STATE_POWER_CYCLE
	psSleep     = computev1.PowerState_POWER_STATE_SLEEP
	psHibernate = computev1.PowerState_POWER_STATE_HIBERNATE
	immediate   = computev1.PowerCommandPolicy_POWER_COMMAND_POLICY_IMMEDIATE
	ordered     = computev1.PowerCommandPolicy_POWER_COMMAND_POLICY_ORDERED
)

// options: the reduced run (go test, make test) or the full one (CHAOS_FULL=1, make chaos).
type options struct {
	full      bool
	bystander int           // hosts beyond the kill matrix's, for the other faults
	outage    time.Duration // Postgres cut
	converge  time.Duration // bound on convergence after a fault
	bigFleet  int           // hosts of the kill -9 during a fleet-wide ON change (0: skipped)
}

func suiteOptions() options {
	if os.Getenv("CHAOS_FULL") == "1" {
		return options{full: true, bystander: 50, outage: 30 * time.Second, converge: 2 * time.Minute, bigFleet: 1000}
	}
	return options{bystander: 10, outage: 5 * time.Second, converge: 90 * time.Second}
}

// timers are dm-manager's flags for the suite: short, so that sequences end in seconds.
var timers = []string{"-softPowerTimeout=2s", "-statusChangeGracePeriod=3s", "-reconcilePeriod=5s",
	"-requestTimeout=10s", "-globalLogLevel=info"}

// cell is one kill point: a sequence (policy × command) and a journaled step, killed as the journal enters that
// step (enter) or as it leaves it for the next one (leave: the step and what followed it on the device happened).
type cell struct {
	pol  computev1.PowerCommandPolicy
	cmd  computev1.PowerState
	step string
	mode string // "enter" or "leave"
	h    *host
}

func (c cell) String() string {
	return fmt.Sprintf("%s/%s/%s-%s", strings.TrimPrefix(c.pol.String(), "POWER_COMMAND_POLICY_"),
		strings.TrimPrefix(c.cmd.String(), "POWER_STATE_"), c.mode, c.step)
}

// journaledSteps are the power journal steps (reconcilers/host) each sequence goes through on a device whose OS
// works; the final "done" is where the kill after the last step lands.
func journaledSteps(pol computev1.PowerCommandPolicy, cmd computev1.PowerState) []string {
	soft := cmd == psSleep || cmd == psHibernate || pol == ordered && (cmd == psOff || cmd == psReset)
	if soft {
		return []string{"soft_sent", "soft_accepted"} // intent, then AMT's acceptance
	}
	return []string{"hard_intent", "hard_sent"}
}

func matrix() []cell {
	var out []cell
	for _, pol := range []computev1.PowerCommandPolicy{immediate, ordered} {
		for _, cmd := range []computev1.PowerState{psOn, psOff, psReset, psCycle, psSleep, psHibernate} {
			steps := journaledSteps(pol, cmd)
			out = append(out, cell{pol: pol, cmd: cmd, step: steps[0], mode: "enter"})
			for _, s := range steps {
				out = append(out, cell{pol: pol, cmd: cmd, step: s, mode: "leave"})
			}
		}
	}
	return out
}

// The hold: a trigger the suite adds to dm-manager's database makes the journal write of an armed host wait (in
// its transaction, uncommitted) when it enters or leaves the armed step; the suite sees the waiting statement and
// kills dm-manager with SIGKILL at that moment, so the kill lands exactly between two journaled steps.
const holdSQL = `
CREATE TABLE IF NOT EXISTS chaos_hold (guid uuid PRIMARY KEY, step text NOT NULL, mode text NOT NULL);
CREATE OR REPLACE FUNCTION chaos_hold_fn() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE h chaos_hold%ROWTYPE;
BEGIN
	IF NEW.kind <> 'power' THEN RETURN NEW; END IF;
	SELECT * INTO h FROM chaos_hold WHERE guid = NEW.guid;
	IF NOT FOUND THEN RETURN NEW; END IF;
	IF (h.mode = 'enter' AND TG_OP = 'INSERT' AND NEW.step = h.step)
		OR (h.mode = 'leave' AND TG_OP = 'UPDATE' AND OLD.step = h.step AND NEW.step IS DISTINCT FROM h.step) THEN
		PERFORM pg_sleep(120);
	END IF;
	RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS chaos_hold ON journal;
CREATE TRIGGER chaos_hold BEFORE INSERT OR UPDATE ON journal FOR EACH ROW EXECUTE FUNCTION chaos_hold_fn();`

func (s *stack) held(tb testing.TB) int {
	tb.Helper()
	var n int
	require.NoError(tb, s.db.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND wait_event = 'PgSleep'`).Scan(&n))
	return n
}

type summary struct {
	faults    []string
	hosts     int
	converged int
	edgesRep  int
	stuck     int
}

func (s *summary) fault(name string) {
	if !slices.Contains(s.faults, name) {
		s.faults = append(s.faults, name)
	}
}

func TestChaos(t *testing.T) {
	o := suiteOptions()
	began := time.Now()
	s := startStack(t, timers, secrets.BackendVault)
	cells := matrix()
	f := newFleet(t, s, len(cells)+o.bystander)
	t.Logf("stack and %d hosts up in %s", len(f.hosts), time.Since(began).Round(time.Second))
	require.Empty(t, f.waitConverged(t, f.hosts, 2*time.Minute), "initial convergence (all ON)")

	for i := range cells {
		cells[i].h = f.hosts[i]
	}
	bystanders := f.hosts[len(cells):]
	var sum summary

	t.Run("kill9-matrix", func(t *testing.T) { killMatrix(t, s, f, cells, o, &sum) })
	t.Run("postgres-cut", func(t *testing.T) { postgresCut(t, s, f, bystanders, o, &sum) })
	t.Run("inventory-restart", func(t *testing.T) { inventoryRestart(t, s, f, bystanders, o, &sum) })
	t.Run("vault-down", func(t *testing.T) { vaultDown(t, s, f, bystanders, o, &sum) })
	t.Run("network-cut", func(t *testing.T) { networkCut(t, s, f, o, &sum) })

	stuck := f.waitConverged(t, f.hosts, o.converge)
	sum.hosts = len(f.hosts) // with the device activated during the Vault outage
	sum.stuck = len(stuck)
	sum.converged = len(f.hosts) - len(stuck)
	for _, h := range f.hosts {
		if h.edge && h.edgeRequests() > 1 {
			sum.edgesRep++
		}
	}
	line := fmt.Sprintf("chaos: faults=%s hosts=%d converged=%d edges_repeated=%d stuck=%d",
		strings.Join(sum.faults, ","), sum.hosts, sum.converged, sum.edgesRep, sum.stuck)
	fmt.Println(line)
	t.Logf("%s (suite %s)", line, time.Since(began).Round(time.Second))
	require.Empty(t, stuck, "hosts stuck")
	require.Zero(t, sum.edgesRep, "edges repeated")
}

// killMatrix: every (policy × command × step) cell gets its host; a round arms one cell (a held write ends when
// dm-manager's -requestTimeout cancels it, so two held writes need not overlap), writes their
// desired state, waits until each one's journal write is held at its step, kills dm-manager with SIGKILL and
// starts it again. At the end every host has its desired state and no edge reached a device twice.
func killMatrix(t *testing.T, s *stack, f *fleet, cells []cell, o options, sum *summary) {
	ctx := context.Background()
	_, err := s.db.Exec(ctx, holdSQL)
	require.NoError(t, err)
	defer func() { _, _ = s.db.Exec(ctx, `DROP TRIGGER IF EXISTS chaos_hold ON journal`) }()

	// ON starts from a host that is off.
	var ons []*host
	for _, c := range cells {
		if c.cmd == psOn {
			ons = append(ons, c.h)
		}
	}
	f.set(t, ons, psOff, immediate)
	require.Empty(t, f.waitConverged(t, ons, time.Minute), "ON cells' hosts powered off first")

	began := time.Now()
	var restarts []time.Duration
	for start := range cells {
		round := cells[start : start+1]
		for _, c := range round {
			_, err := s.db.Exec(ctx, `INSERT INTO chaos_hold (guid, step, mode) VALUES ($1, $2, $3)`,
				c.h.guid, c.step, c.mode)
			require.NoError(t, err)
		}
		for _, c := range round {
			f.set(t, []*host{c.h}, c.cmd, c.pol)
		}
		deadline := time.Now().Add(time.Minute)
		for s.held(t) < len(round) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		n := s.held(t)
		s.killDM(t)
		sum.fault("kill9")
		_, err := s.db.Exec(ctx, `DELETE FROM chaos_hold`)
		require.NoError(t, err)
		require.Equal(t, len(round), n, "round %v: not every cell reached its step within 1m", round)
		restarts = append(restarts, s.startDM(t))
	}
	var hs []*host
	for _, c := range cells {
		hs = append(hs, c.h)
	}
	stuck := f.waitConverged(t, hs, o.converge)
	t.Logf("kill -9 matrix: %d cells, %d kills, restarts %v, converged %s after the first kill",
		len(cells), len(restarts), restarts, time.Since(began).Round(time.Second))
	require.Empty(t, stuck, "cells stuck after the kills")
	for _, c := range cells {
		if c.h.edge {
			require.LessOrEqual(t, c.h.edgeRequests(), 1, "%s: edge repeated: device got %v", c, c.h.dev.PowerRequests())
		}
	}
}

// postgresCut: the proxy drops dm-manager's Postgres connections and refuses new ones for the outage while users
// change desired states; dm-manager (restarted if it exits, as Kubernetes would) converges afterwards.
func postgresCut(t *testing.T, s *stack, f *fleet, hs []*host, o options, sum *summary) {
	sum.fault("postgres-cut")
	s.proxy.cut()
	f.set(t, hs, psOff, immediate)
	time.Sleep(o.outage)
	s.proxy.restore()
	began := time.Now()
	s.ensureDM(t)
	require.Empty(t, f.waitConverged(t, hs, o.converge), "after the Postgres cut")
	t.Logf("Postgres cut %s: %d hosts converged %s after it ended", o.outage, len(hs), time.Since(began).Round(time.Second))
}

// inventoryRestart: Inventory is restarted while a change is in flight; dm-manager's event stream ends (it exits
// by design and is restarted, as Kubernetes would) and the hosts converge.
func inventoryRestart(t *testing.T, s *stack, f *fleet, hs []*host, o options, sum *summary) {
	sum.fault("inventory-restart")
	f.set(t, hs, psOn, ordered)
	s.inv.Kill(syscall.SIGTERM)
	s.startInventory(t)
	began := time.Now()
	f.redial(t, s)
	s.ensureDM(t)
	require.Empty(t, f.waitConverged(t, hs, o.converge), "after the Inventory restart")
	t.Logf("Inventory restarted: %d hosts converged %s later", len(hs), time.Since(began).Round(time.Second))
}

// networkCut: 20% of the devices lose their network: Inventory shows them DISCONNECTED after the grace period,
// then connected again once it is back.
func networkCut(t *testing.T, s *stack, f *fleet, o options, sum *summary) {
	sum.fault("network-cut-20pct")
	var cut []*host
	for i, h := range f.hosts {
		if i%5 == 0 {
			cut = append(cut, h)
		}
	}
	for _, h := range cut {
		h.dev.SetReachable(false)
	}
	ctx := context.Background()
	amtState := func(want computev1.AmtState) func() (bool, string) {
		return func() (bool, string) {
			all, err := f.api.Hosts(ctx)
			if err != nil {
				return false, err.Error()
			}
			n := 0
			for _, x := range all {
				for _, h := range cut {
					if strings.EqualFold(x.GetUuid(), h.guid) && x.GetCurrentAmtState() == want {
						n++
					}
				}
			}
			return n == len(cut), fmt.Sprintf("%d of %d hosts %s", n, len(cut), want)
		}
	}
	began := time.Now()
	eventually(t, o.converge, "cut devices DISCONNECTED", amtState(computev1.AmtState_AMT_STATE_DISCONNECTED))
	t.Logf("network cut: %d devices DISCONNECTED after %s (grace 3s)", len(cut), time.Since(began).Round(time.Second))
	for _, h := range cut {
		h.dev.SetReachable(true)
	}
	began = time.Now()
	eventually(t, o.converge, "cut devices connected again", amtState(computev1.AmtState_AMT_STATE_PROVISIONED))
	t.Logf("network back: %d devices PROVISIONED again after %s", len(cut), time.Since(began).Round(time.Second))
}

// ensureDM restarts dm-manager if it exited (it exits on purpose when Inventory's event stream ends, or when
// Postgres stays unreachable): what Kubernetes does.
func (s *stack) ensureDM(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if !s.dm.Alive() {
			s.startDM(tb)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}
