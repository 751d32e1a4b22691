package chaos

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"

	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/amtsim/rpc"
	"github.com/dmrm/dm-manager/test/hip/rig"
)

// vaultDown: the Vault stand-in stops answering for the outage (listener and connections closed, the same port
// reopened after) while users change desired states, half of the hosts' devices reconnect (a new session reads
// its device's AMT password from Vault) and a new device is activated (the tenant's password and the new device
// secrets are in Vault). dm-manager must stay up, say why in its log, refuse the activation with a clear answer
// and leave the device untouched; after the outage the hosts converge and the activation, run again, succeeds.
func vaultDown(t *testing.T, s *stack, f *fleet, hs []*host, o options, sum *summary) {
	sum.fault("vault-down")
	ctx := context.Background()
	pwPath, err := secrets.TenantAMTPassword(f.tenant)
	require.NoError(t, err)
	tenantPW, err := s.sec.Get(ctx, pwPath)
	require.NoError(t, err)
	dev, err := amtsim.New(amtsim.Config{Log: zerolog.Nop()})
	require.NoError(t, err)
	guid := strings.ToLower(dev.GUID().String())
	nh := rig.NewHost(guid, "chaos-vault-activation")
	nh.AmtControlMode = computev1.AmtControlMode_AMT_CONTROL_MODE_CCM
	nh.PowerCommandPolicy = immediate
	_, err = f.api.CreateHost(ctx, nh)
	require.NoError(t, err)
	activate := func() (*rpc.Result, error) {
		actx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		return rpc.Run(actx, dev, rpc.Config{URL: "ws://" + s.activation + "/activate",
			Command: rpc.ActivateCommand(f.tenant+"_ccm", false), TenantID: f.tenant,
			Password: tenantPW[secrets.KeyPassword], Log: zerolog.Nop()})
	}
	logFrom := logSize(t, s.dm.Log)

	s.vault.Down()
	// A failed assertion below must not leave Vault down for the faults after this one (Up is a no-op when up).
	t.Cleanup(func() { _ = s.vault.Up() })
	downAt := time.Now()
	pid := s.dm.Pid()
	reconnect := hs[:len(hs)/2]
	for _, h := range reconnect {
		h.dev.SetReachable(false)
	}
	time.Sleep(time.Second) // long enough for the gateway to see the links go, short of the 3 s grace period
	for _, h := range reconnect {
		h.dev.SetReachable(true)
	}
	f.set(t, hs, psOff, immediate)
	res, err := activate()
	answer := "error: " + errString(err)
	if res != nil {
		answer = res.Text()
		require.False(t, res.OK(), "activation succeeded with Vault down")
	}
	t.Logf("activation during the Vault outage answered: %s", answer)
	require.NotContains(t, answer, strings.TrimPrefix(s.vault.URL, "http://"), "Vault's address reached rpc-go")
	require.Equal(t, amtsim.PreProvisioning, dev.Mode(), "a refused activation leaves AMT untouched")
	time.Sleep(time.Until(downAt.Add(o.outage)))
	require.True(t, s.dm.Alive(), "dm-manager exited during the Vault outage; see %s", s.dm.Log)
	require.NoError(t, s.vault.Up())
	upAt := time.Now()

	vaultLines := linesMentioning(t, s.dm.Log, logFrom, strings.TrimPrefix(s.vault.URL, "http://"))
	t.Logf("Vault down %s: %d dm-manager log lines name the Vault address", time.Since(downAt).Round(time.Second),
		vaultLines)
	require.Positive(t, vaultLines, "dm-manager's log says nothing about the unreachable Vault")

	res, err = activate()
	require.NoError(t, err)
	require.True(t, res.OK(), "activation after the Vault outage: %s", res.Message)
	nhost := &host{guid: guid, dev: dev, want: psOn}
	f.hosts = append(f.hosts, nhost)
	f.wg.Go(func() {
		_ = dev.RunCIRA(f.ctx, amtsim.CIRAOptions{ServerAddr: s.cira, MinBackoff: 100 * time.Millisecond,
			MaxBackoff: time.Second, Log: zerolog.Nop()})
	})
	all := append(append([]*host(nil), hs...), nhost)
	require.Empty(t, f.waitConverged(t, all, o.converge), "after the Vault outage")
	require.True(t, s.dm.Alive() && s.dm.Pid() == pid, "dm-manager restarted or exited after the Vault outage")
	t.Logf("Vault back: %d hosts and the activated device converged %s later", len(hs),
		time.Since(upAt).Round(time.Second))
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func logSize(tb testing.TB, path string) int64 {
	tb.Helper()
	fi, err := os.Stat(path)
	require.NoError(tb, err)
	return fi.Size()
}

// linesMentioning counts the lines of the log file from offset on that contain s.
func linesMentioning(tb testing.TB, path string, offset int64, s string) int {
	tb.Helper()
	b, err := os.ReadFile(path)
	require.NoError(tb, err)
	n := 0
	for _, l := range strings.Split(string(b[offset:]), "\n") {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}
