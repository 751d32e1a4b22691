package hip

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	inv_v1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/inventory/v1"

	"github.com/dmrm/dm-manager/internal/app"
	"github.com/dmrm/dm-manager/internal/config"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/southbound/pb"
	"github.com/dmrm/dm-manager/internal/store/storetest"
	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/hip/agent"
	"github.com/dmrm/dm-manager/test/hip/rig"
	"github.com/dmrm/dm-manager/test/invtest"
)

// Local stack timings: short so that the scenarios run inside `go test ./...`.
const (
	localSoftPowerTimeout = time.Second
	localDisconnectGrace  = time.Second
	localPowerWait        = 45 * time.Second // the reconciler waits up to 10s for AMT to settle between actions
	localAMTWait          = 90 * time.Second // dm-manager pauses 12s after AMT setup, as AMT needs
	localHeartbeat        = 300 * time.Millisecond
)

// stack is what the scenarios run against: a HIP rig's deployment or the local stack.
type stack struct {
	user  *rig.Rig
	hosts []string
	rec   *recorder
	local *local // nil on a HIP rig

	powerWait, amtWait time.Duration
	softPowerTimeout   time.Duration
	disconnectGrace    time.Duration
	allowDeactivate    bool
}

// local is the simulated half of the local stack.
type local struct {
	devices map[string]*amtsim.Device
	agents  map[string]*agent.Agent
}

func newStack(t *testing.T, hosts int) *stack {
	t.Helper()
	if hipMode {
		return hipStack(t)
	}
	return localStack(t, hosts)
}

// hipStack connects to the deployment's Inventory as an API client, as the EIM API acts for a user.
func hipStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{hosts: hipCfg.HostUUIDs, rec: newRecorder(), powerWait: hipCfg.PowerTimeout, amtWait: hipCfg.AMTTimeout,
		softPowerTimeout: hipCfg.SoftPowerTimeout, disconnectGrace: hipCfg.DisconnectGrace,
		allowDeactivate: hipCfg.AllowDeactivate}
	user, err := rig.Dial(hipCfg, rig.Client{Name: "dm-manager HIP rig", Kind: inv_v1.ClientKind_CLIENT_KIND_API,
		OnHost: s.rec.record})
	require.NoError(t, err)
	t.Cleanup(user.Close)
	s.user = user
	return s
}

// localStack runs dm-manager in process against the in-process Inventory, creates a tenant and hosts, and
// activates one simulated device per host through the real path (node agent, southbound, activation websocket).
func localStack(t *testing.T, n int) *stack {
	t.Helper()
	s := &stack{rec: newRecorder(), powerWait: localPowerWait, amtWait: localAMTWait,
		softPowerTimeout: localSoftPowerTimeout, disconnectGrace: localDisconnectGrace, allowDeactivate: true}
	ready := startDMManager(t)

	tenant := uuid.NewString()
	rcfg := rig.Config{Address: invtest.Address, Tenant: tenant}
	tc, err := rig.Dial(rcfg, rig.Client{Name: "hip tenant controller",
		Kind: inv_v1.ClientKind_CLIENT_KIND_TENANT_CONTROLLER, DialOptions: invtest.DialOptions()})
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), s.amtWait)
	defer cancel()
	_, err = tc.CreateTenant(ctx)
	require.NoError(t, err)
	s.user, err = rig.Dial(rcfg, rig.Client{Name: "hip user", Kind: inv_v1.ClientKind_CLIENT_KIND_API,
		DialOptions: invtest.DialOptions(), OnHost: s.rec.record})
	require.NoError(t, err)
	t.Cleanup(s.user.Close)
	for range n {
		id := uuid.NewString()
		_, err := s.user.CreateHost(ctx, rig.NewHost(id, "hip-"+id[:8]))
		require.NoError(t, err)
		s.hosts = append(s.hosts, id)
	}
	s.local = startFleet(t, tenant, s.hosts, ready)
	for _, h := range s.hosts {
		_, err := s.user.WaitHost(ctx, h, "activated and powered on", s.amtWait, func(x *computev1.HostResource) bool {
			return x.GetCurrentAmtState() == computev1.AmtState_AMT_STATE_PROVISIONED &&
				x.GetCurrentPowerState() == computev1.PowerState_POWER_STATE_ON
		})
		require.NoError(t, err, "agent: %s", s.local.agents[h].Status())
	}
	return s
}

// startDMManager runs internal/app on pre-bound loopback listeners, a throwaway database and short timers.
func startDMManager(t *testing.T) app.Ready {
	t.Helper()
	dsn, drop, err := storetest.CreateDatabase("dmm_hip_test")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, drop()) })
	key := make([]byte, secrets.KeySize)
	_, _ = rand.Read(key)
	env := map[string]string{"DM_SECRETS_KEY": base64.StdEncoding.EncodeToString(key)}
	lis, err := app.ListenLoopback()
	require.NoError(t, err)
	cfg, err := config.Load([]string{
		"-databaseURL=" + dsn, "-inventoryAddress=" + invtest.Address, "-infraConfigPath=", "-enableAuth=false",
		"-ciraServerAddress=" + lis.CIRA.Addr().String(),
		"-activationURL=ws://" + lis.Activation.Addr().String() + "/activate",
		"-replicaID=hip", "-softPowerTimeout=" + localSoftPowerTimeout.String(),
		"-statusChangeGracePeriod=" + localDisconnectGrace.String(), "-requestTimeout=10s", "-reconcilePeriod=5s",
	}, func(k string) string { return env[k] })
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	readyCh, done := make(chan app.Ready, 1), make(chan error, 1)
	go func() {
		done <- app.Run(ctx, cfg, app.Options{
			InventoryDialOptions: invtest.DialOptions(), Listeners: lis,
			Log:     zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
			OnReady: func(r app.Ready) { readyCh <- r },
		})
	}()
	var ready app.Ready
	select {
	case ready = <-readyCh:
	case err := <-done:
		cancel()
		t.Fatalf("dm-manager stopped before it was ready: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("dm-manager not ready after 60s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err, "dm-manager stop")
		case <-time.After(30 * time.Second):
			t.Error("dm-manager did not stop within 30s")
		}
	})
	return ready
}

// startFleet creates one simulated machine per host with its node agent.
func startFleet(t *testing.T, tenant string, hosts []string, ready app.Ready) *local {
	t.Helper()
	conn, err := grpc.NewClient(ready.DMServer, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	token, err := agent.Token(tenant, time.Hour)
	require.NoError(t, err)
	l := &local{devices: map[string]*amtsim.Device{}, agents: map[string]*agent.Agent{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		_ = conn.Close()
	})
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	for _, id := range hosts {
		d, err := amtsim.New(amtsim.Config{GUID: id, Hostname: "hip-" + id[:8], PowerDelay: 100 * time.Millisecond,
			OSBootDelay: 300 * time.Millisecond, OSShutdownDelay: 300 * time.Millisecond, Log: log})
		require.NoError(t, err)
		a, err := agent.New(agent.Config{Device: d, Client: pb.NewDeviceManagementClient(conn), Token: token,
			ActivationURL: "ws://" + ready.Activation + "/activate", Heartbeat: localHeartbeat, Log: log,
			CIRA: amtsim.CIRAOptions{MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second}})
		require.NoError(t, err)
		l.devices[id], l.agents[id] = d, a
		wg.Go(func() { _ = a.Run(ctx) })
	}
	return l
}
