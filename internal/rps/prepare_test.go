package rps_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
	"github.com/dmrm/dm-manager/internal/rps"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/test/amtsim"
)

// admitAll grants every claim: the state the claim normally rules out, two sessions for one device at once (one
// of them past a lease it lost), which the create-if-absent write of the device's secrets must survive on its own.
type admitAll struct{}

func (admitAll) ClaimActivation(context.Context, string, string, string, time.Duration) error {
	return nil
}
func (admitAll) RenewActivation(context.Context, string, string, time.Duration) error { return nil }
func (admitAll) ReleaseActivation(context.Context, string, string) error              { return nil }

// Two sessions prepare one pre-provisioned device on two replicas at once, each having read "no secrets" and
// generated its own random passwords (dynamic policy): the first write of the secrets wins, the other session takes
// its values, so the device ends set up with the stored password and CIRA credentials, whichever Setup went first.
func TestConcurrentPrepareCreatesSecretsOnce(t *testing.T) {
	for _, profile := range []string{"ccm", "acm"} {
		t.Run(profile, func(t *testing.T) {
			e1, e2 := twoReplicas(t, func(c *rps.Config) { c.Claims = admitAll{} })
			tenant := newTenant(t, "dynamic")
			var d *amtsim.Device
			if profile == "acm" {
				pki := certtest.New(t)
				addDomain(t, tenant, "example.com", pki)
				d = e1.acmDevice(t, tenant, pki)
			} else {
				d = e1.newDevice(t, tenant, amtsim.Config{})
			}
			guid := d.GUID().String()
			e2.hosts.set(tenant, guid, rps.Host{ResourceID: "host-" + guid[:8], DesiredAMT: rps.AMTStateProvisioned})

			// Both sessions stop at their first exchange with AMT: by then each has read the (absent) secrets and
			// generated its own; neither has written. Released together, both write at once. The second session then
			// waits, past its write, until the first has ended: its own Setup (or, for ACM, its certificate chain,
			// which AMT builds one call at a time) would otherwise interleave with the first one's on the device.
			var arrived sync.WaitGroup
			arrived.Add(2)
			firstDone := make(chan struct{})
			results := make([]string, 2)
			var wg sync.WaitGroup
			for i, e := range []*env{e1, e2} {
				p := dial(t, e.url, nil)
				p.start(d, "activate --profile "+tenant+"_"+profile, "", "")
				wg.Add(1)
				go func() {
					defer wg.Done()
					got := p.relay(d, func(n int) {
						switch {
						case n == 0:
							arrived.Done()
							arrived.Wait()
						case n == 1 && i == 1:
							<-firstDone
						}
					})
					results[i] = got.Method
					if i == 0 {
						close(firstDone)
					}
				}()
			}
			wg.Wait()
			require.Equal(t, []string{"success", "error"}, results, "the first session activates, AMT refuses the second")

			stored := deviceSecrets(t, tenant, guid)
			require.True(t, d.AdminPasswordIs(stored[secrets.KeyAMTPassword]), "AMT has the stored admin password")
			servers := d.CIRA().Servers
			require.Len(t, servers, 1)
			require.Equal(t, stored[secrets.KeyCIRAUsername], servers[0].Username)
			require.Equal(t, stored[secrets.KeyCIRAPassword], servers[0].Password)
			rec, err := testStore.GetDevice(context.Background(), guid)
			require.NoError(t, err)
			require.Equal(t, stored[secrets.KeyCIRAUsername], rec.CIRAUsername)
			if profile == "acm" {
				require.Equal(t, amtsim.AdminControl, d.Mode())
				require.Equal(t, stored[secrets.KeyMEBxPassword], d.MEBxPassword())
			} else {
				require.Equal(t, amtsim.ClientControl, d.Mode())
			}
		})
	}
}
