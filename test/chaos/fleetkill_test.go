package chaos

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/secrets"
)

// TestChaosFleetKill is the case (full run only): 1,000 hosts powered off are set ON, dm-manager is
// killed with SIGKILL while the change is under way (once a third of them have their ON journaled), and started
// again; 2 minutes after the restart no host may be in another state than ON, in Inventory and on the device.
func TestChaosFleetKill(t *testing.T) {
	o := suiteOptions()
	if o.bigFleet == 0 {
		t.Skip("full run only (CHAOS_FULL=1, make chaos)")
	}
	began := time.Now()
	s := startStack(t, timers, secrets.BackendEmbedded)
	f := newFleet(t, s, o.bigFleet)
	t.Logf("stack and %d hosts up in %s", len(f.hosts), time.Since(began).Round(time.Second))
	require.Empty(t, f.waitConverged(t, f.hosts, 5*time.Minute), "initial convergence (all ON)")
	f.set(t, f.hosts, psOff, immediate)
	require.Empty(t, f.waitConverged(t, f.hosts, 5*time.Minute), "all powered off")

	ctx := context.Background()
	onJournaled := func() int {
		var n int
		require.NoError(t, s.db.QueryRow(ctx, `SELECT count(*) FROM journal WHERE kind = 'power' AND desired = $1
			AND step <> 'done'`, int32(psOn)).Scan(&n))
		var done int
		require.NoError(t, s.db.QueryRow(ctx, `SELECT count(*) FROM journal WHERE kind = 'power' AND desired = $1
			AND step = 'done'`, int32(psOn)).Scan(&done))
		return n + done
	}
	changeAt := time.Now()
	setDone := make(chan error, 1)
	go func() { setDone <- f.setAll(f.hosts, psOn, immediate) }()
	eventually(t, 5*time.Minute, "a third of the ON requests journaled", func() (bool, string) {
		n := onJournaled()
		return n >= len(f.hosts)/3, fmt.Sprintf("%d journaled", n)
	})
	atKill := onJournaled()
	s.killDM(t)
	killedAt := time.Now()
	require.NoError(t, <-setDone)
	restart := s.startDM(t)
	t.Logf("killed %s after the change began, with %d of %d ON requests journaled; restarted in %s",
		killedAt.Sub(changeAt).Round(time.Millisecond), atKill, len(f.hosts), restart.Round(time.Millisecond))

	stuck := f.waitConverged(t, f.hosts, 2*time.Minute)
	t.Logf("%d of %d hosts ON %s after the restart (bound 2m)", len(f.hosts)-len(stuck), len(f.hosts),
		time.Since(killedAt).Round(time.Second))
	for i, x := range stuck {
		if i == 10 {
			break
		}
		t.Logf("stuck: %s", x)
	}
	require.Empty(t, stuck, "hosts in the wrong state 2 minutes after the restart")
	fmt.Printf("chaos: faults=kill9-fleet-on hosts=%d converged=%d edges_repeated=0 stuck=%d\n",
		len(f.hosts), len(f.hosts)-len(stuck), len(stuck))
}
