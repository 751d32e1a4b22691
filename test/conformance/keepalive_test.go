package conformance

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/test/amtsim"
)

// TestKeepAliveIdleClose: AMT closes a kept-alive connection after its idle time; the client notices nothing
// came back on the reused connection and re-sends once on a fresh one, still with the cached challenge.
func TestKeepAliveIdleClose(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t, func(c *amtsim.Config) { c.IdleTimeout = 20 * time.Millisecond })
	r.activateCCM(ctx)
	c := r.admin(false)
	_, err := c.GeneralSettings(ctx)
	require.NoError(t, err)
	before := r.net.stats()
	require.Equal(t, int64(2), before.Conns)

	for range before.Conns { // the 401 connection, then the idle kept-alive one
		select {
		case <-r.net.closed:
		case <-ctx.Done():
			t.Fatal("device kept the idle connection open")
		}
	}
	_, err = c.GeneralSettings(ctx)
	require.NoError(t, err)
	after := r.net.stats()
	require.Equal(t, before.Conns+1, after.Conns, "one fresh connection")
	require.Equal(t, before.Unauthorized, after.Unauthorized, "no new challenge needed")
}

// TestConcurrentClients: three clients (MPS runs up to three requests per device, §8.4), each shared by two
// goroutines, hammer one device; every exchange succeeds, and each client keeps one connection.
func TestConcurrentClients(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)

	clients := []*amt.Client{r.admin(false), r.admin(false), r.admin(false)}
	var wg sync.WaitGroup
	errs := make(chan error, 6*20)
	for i := range 6 {
		c := clients[i%len(clients)]
		wg.Go(func() {
			for j := range 20 {
				var err error
				if j%2 == 0 {
					_, err = c.GeneralSettings(ctx)
				} else {
					_, err = c.PowerState(ctx)
				}
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	st := r.net.stats()
	require.Equal(t, int64(3), st.Unauthorized, "one challenge per client")
	require.Equal(t, int64(6), st.Conns, "one 401 connection and one kept-alive connection per client")
	require.Equal(t, int64(3+6*20*3/2), st.Requests, "GeneralSettings is one exchange, PowerState two")
}
