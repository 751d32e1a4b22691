package cluster

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/amtsim/rpc"
	"github.com/dmrm/dm-manager/test/hip/rig"
)

// activateTwice runs two rpc-go sessions for one factory-fresh device at the same moment, one on each of two
// replicas: the cluster-wide claim in Postgres lets exactly one proceed; the other is refused with a message naming
// the replica that holds the device, and the first ends with AMT activated with the password that is stored.
func (c *cluster) activateTwice(ctx context.Context, t *testing.T, sec secrets.Store) {
	d, err := amtsim.New(amtsim.Config{Log: zerolog.Nop()})
	require.NoError(t, err)
	guid := d.GUID().String()
	_, err = c.api.CreateHost(ctx, rig.NewHost(guid, "cluster-activation"))
	require.NoError(t, err)

	rs := c.replicas[:2]
	results := make([]*rpc.Result, len(rs))
	errs := make([]error, len(rs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() {
			<-start
			rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			results[i], errs[i] = rpc.Run(rctx, d, rpc.Config{URL: fmt.Sprintf("ws://%s/activate", hostPort(r.act)),
				Command: rpc.ActivateCommand(c.tenant+"_ccm", false), TenantID: c.tenant, Log: zerolog.Nop()})
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	var won, refused []int
	for i := range rs {
		require.NoError(t, errs[i], "session on %s", rs[i].id)
		if results[i].OK() {
			won = append(won, i)
		} else {
			refused = append(refused, i)
		}
	}
	require.Len(t, won, 1, "exactly one activation proceeds: %s / %s", results[0].Message, results[1].Message)
	require.Len(t, refused, 1)
	w, l := won[0], refused[0]
	require.Equal(t, "Another session for device "+guid+" is in progress (on replica "+rs[w].id+"); run the "+
		"operation again after it has ended", results[l].Message)
	t.Logf("activation on %s succeeded in %s; the one on %s was refused", rs[w].id,
		time.Since(began).Round(time.Millisecond), rs[l].id)

	require.Equal(t, amtsim.ClientControl, d.Mode())
	rec, err := c.st.GetDevice(ctx, guid)
	require.NoError(t, err)
	require.Equal(t, store.StateActivated, rec.ActivationState)
	path, err := secrets.Device(c.tenant, guid)
	require.NoError(t, err)
	stored, err := sec.Get(ctx, path)
	require.NoError(t, err)
	require.True(t, d.AdminPasswordIs(stored[secrets.KeyAMTPassword]), "AMT has the stored admin password")
	require.True(t, d.CIRA().Provisioned)
	require.Len(t, d.CIRA().Servers, 1, "CIRA configured once")
	require.Equal(t, stored[secrets.KeyCIRAUsername], d.CIRA().Servers[0].Username)
}
