package rps_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/rps"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/amtsim/rpc"
)

// Two replicas: two engines (two websocket servers) on one database.
func twoReplicas(t *testing.T, mutate func(*rps.Config)) (*env, *env) {
	t.Helper()
	replica := func(id string) *env {
		return newEnv(t, func(c *rps.Config) {
			c.ReplicaID = id
			if mutate != nil {
				mutate(c)
			}
		})
	}
	return replica("replica-1"), replica("replica-2")
}

func claimRefusal(guid, replica string) string {
	return "Another session for device " + guid + " is in progress (on replica " + replica + "); run the operation " +
		"again after it has ended"
}

// A second session for a device, on another replica, gets a terminal error naming the replica; the first session
// carries on unharmed and succeeds; once it ended the device is free again.
func TestClaimAcrossReplicas(t *testing.T) {
	e1, e2 := twoReplicas(t, nil)
	tenant := newTenant(t, "static")
	d := e1.newDevice(t, tenant, amtsim.Config{})
	guid := d.GUID().String()
	e2.hosts.set(tenant, guid, rps.Host{ResourceID: "host-x", DesiredAMT: rps.AMTStateProvisioned})

	p := dial(t, e1.url, nil)
	p.start(d, "activate --profile "+tenant+"_ccm", "", "")
	got := p.relay(d, func(i int) {
		if i == 0 {
			second := e2.run(t, d, activate(tenant+"_ccm"))
			require.False(t, second.OK())
			require.Equal(t, claimRefusal(guid, "replica-1"), second.Message)
		}
	})
	require.Equal(t, "success", got.Method, got.Message)
	require.Equal(t, amtsim.ClientControl, d.Mode())
	require.True(t, e1.outcome(t).OK)

	// Released at the end: the other replica's next session is served.
	again := e2.run(t, d, rpc.Config{Command: "deactivate --local", Password: tenantPassword})
	require.True(t, again.OK(), again.Message)
}

// Two simultaneous activations of one device on two replicas: exactly one succeeds, the other is refused.
func TestSimultaneousActivationsOnTwoReplicas(t *testing.T) {
	// The wait after Setup (as in production) keeps the winner's session open long enough that the other
	// session, started at the same moment, certainly arrives while it runs.
	e1, e2 := twoReplicas(t, func(c *rps.Config) { c.PostSetupDelay = 2 * time.Second })
	tenant := newTenant(t, "static")
	d := e1.newDevice(t, tenant, amtsim.Config{})
	guid := d.GUID().String()
	e2.hosts.set(tenant, guid, rps.Host{ResourceID: "host-x", DesiredAMT: rps.AMTStateProvisioned})

	results := make([]*rpc.Result, 2)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, e := range []*env{e1, e2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cfg := activate(tenant + "_ccm")
			cfg.URL = e.url
			res, err := rpc.Run(ctx, d, cfg)
			if err == nil {
				results[i] = res
			}
		}()
	}
	close(start)
	wg.Wait()
	require.NotNil(t, results[0])
	require.NotNil(t, results[1])
	ok, refused := 0, 0
	for i, r := range results {
		switch {
		case r.OK():
			ok++
		case r.Message == claimRefusal(guid, []string{"replica-2", "replica-1"}[i]):
			refused++
		default:
			t.Fatalf("session %d: %s", i, r.Message)
		}
	}
	require.Equal(t, 1, ok, "exactly one activation succeeds")
	require.Equal(t, 1, refused, "the other is refused by the claim")
	require.Equal(t, amtsim.ClientControl, d.Mode())
}

// A claim left by a crashed replica blocks the device only until its lease expires; then it is taken over.
func TestClaimOfCrashedReplicaExpires(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *rps.Config) { c.ReplicaID = "replica-1" })
	tenant := newTenant(t, "static")
	d := e.newDevice(t, tenant, amtsim.Config{})
	guid := d.GUID().String()

	const crashed = "replica-9/5f0c"
	require.NoError(t, testStore.ClaimActivation(ctx, guid, crashed, "replica-9", time.Minute))
	got := e.run(t, d, activate(tenant+"_ccm"))
	require.False(t, got.OK())
	require.Equal(t, claimRefusal(guid, "replica-9"), got.Message)

	// Its lease runs out (moved into the past rather than waited for).
	require.NoError(t, testStore.ClaimActivation(ctx, guid, crashed, "replica-9", -time.Second))
	got = e.run(t, d, activate(tenant+"_ccm"))
	require.True(t, got.OK(), got.Message)
	require.ErrorIs(t, testStore.RenewActivation(ctx, guid, crashed, time.Minute), store.ErrNotFound,
		"the crashed holder's lease is gone")
}

// A session outliving its lease keeps the device: the lease is renewed while the session lives.
func TestClaimRenewedWhileSessionLives(t *testing.T) {
	const ttl = 300 * time.Millisecond
	e1, e2 := twoReplicas(t, func(c *rps.Config) { c.ClaimTTL = ttl })
	tenant := newTenant(t, "static")
	d := e1.newDevice(t, tenant, amtsim.Config{})
	guid := d.GUID().String()
	e2.hosts.set(tenant, guid, rps.Host{ResourceID: "host-x", DesiredAMT: rps.AMTStateProvisioned})

	silentPeer(t, e1, tenant, d)
	time.Sleep(4 * ttl) // several lease lengths pass; nothing signals "time has passed" but time itself
	got := e2.run(t, d, activate(tenant+"_ccm"))
	require.False(t, got.OK())
	require.Equal(t, claimRefusal(guid, "replica-1"), got.Message)
}
