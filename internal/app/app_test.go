package app_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	inv_testing "github.com/open-edge-platform/infra-core/inventory/v2/pkg/testing"

	"github.com/dmrm/dm-manager/internal/app"
	"github.com/dmrm/dm-manager/internal/config"
	"github.com/dmrm/dm-manager/internal/devices"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/southbound/pb"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/internal/store/storetest"
	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/amtsim/rpc"
	"github.com/dmrm/dm-manager/test/invtest"
	"github.com/dmrm/dm-manager/test/load/creds"
	"github.com/dmrm/dm-manager/test/load/devrun"
)

func TestMain(m *testing.M) { invtest.Main(m) }

// ciraServerAddress is what devices are told to dial; they reach the loopback gateway through
// CIRAOptions.ServerAddr and check its certificate against this name.
const ciraServerAddress = "cira.smoke.test:4433"

// instance is one dm-manager run in process against the in-process Inventory and a throwaway database.
type instance struct {
	ready   app.Ready
	cancel  context.CancelFunc
	done    chan error
	st      *store.Store  // the test's own connection to the instance's database
	sec     secrets.Store // and to its secrets
	stopped bool
}

// start runs app.Run with every listener pre-bound on a free loopback port, as tests and the demo do.
func start(t *testing.T, dbName string, extraArgs ...string) *instance {
	t.Helper()
	dsn, drop, err := storetest.CreateDatabase(dbName)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, drop()) })
	key := make([]byte, secrets.KeySize)
	_, _ = rand.Read(key)
	env := map[string]string{"DM_SECRETS_KEY": base64.StdEncoding.EncodeToString(key)}
	args := []string{"-databaseURL=" + dsn, "-inventoryAddress=" + invtest.Address, "-infraConfigPath=",
		"-ciraServerAddress=" + ciraServerAddress, "-activationURL=wss://localhost/activate", "-enableAuth=false",
		"-replicaID=smoke", "-enableMetrics", "-softPowerTimeout=5s", "-requestTimeout=10s"}
	cfg, err := config.Load(append(args, extraArgs...), func(k string) string { return env[k] })
	require.NoError(t, err)

	lis, err := app.ListenLoopback()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	readyCh := make(chan app.Ready, 1)
	in := &instance{cancel: cancel, done: make(chan error, 1)}
	go func() {
		in.done <- app.Run(ctx, cfg, app.Options{
			InventoryDialOptions: invtest.DialOptions(),
			Listeners:            lis,
			Log:                  zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel),
			OnReady:              func(r app.Ready) { readyCh <- r },
			// amtsim takes new credentials at once; real AMT needs the engine's default wait.
			ActivationPostSetupDelay: -1,
		})
	}()
	select {
	case in.ready = <-readyCh:
	case err := <-in.done:
		cancel()
		t.Fatalf("app.Run ended before ready: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("app.Run not ready after 60s")
	}

	t.Cleanup(func() { in.stop(t) }) // after a failed test; a no-op after stop

	in.st, err = store.Open(context.Background(), dsn, store.ConnectOptions{}, zerolog.Nop())
	require.NoError(t, err)
	in.sec, err = secrets.Open(context.Background(), secrets.Options{Backend: secrets.BackendEmbedded,
		Key: env["DM_SECRETS_KEY"]}, in.st, zerolog.Nop())
	require.NoError(t, err)
	return in
}

// stop ends Run and requires a clean stop.
func (in *instance) stop(t *testing.T) {
	t.Helper()
	if in.stopped {
		return
	}
	in.stopped = true
	if in.sec != nil {
		in.sec.Close()
	}
	if in.st != nil {
		in.st.Close()
	}
	in.cancel()
	select {
	case err := <-in.done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("app.Run did not return within 30s of the stop")
	}
}

// TestSmoke runs the whole program: a tenant created in Inventory is bootstrapped, an activated simulated device
// dials the gateway, and a host created with desired power OFF is powered off over CIRA and reported.
func TestSmoke(t *testing.T) {
	dao := invtest.DAO(t)
	leaks := goleak.IgnoreCurrent()
	smoke(t, dao)
	goleak.VerifyNone(t, leaks)
}

func smoke(t *testing.T, dao *inv_testing.InvResourceDAO) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	began := time.Now()
	in := start(t, "dmm_app_test")
	t.Logf("ready after %s: %+v", time.Since(began).Round(time.Millisecond), in.ready.GatewayNames)
	requireServing(t, in.ready.OAM)

	// Tenant bootstrap: CIRA config, both profiles, the static-policy password.
	tenantID := uuid.NewString()
	dao.CreateTenantWithOpts(t, tenantID, true, inv_testing.TenantDesiredStateCreated())
	requireBootstrapped(ctx, t, in, tenantID)
	t.Logf("tenant bootstrapped after %s", time.Since(began).Round(time.Millisecond))

	// A device activated elsewhere (CCM, CIRA configured to our gateway), to be imported with its credentials.
	fleet, err := devrun.Provision(ctx, devrun.Options{N: 1, GUIDSeed: tenantID, CredSeed: "smoke",
		Gateway: in.ready.CIRA, GatewayName: in.ready.GatewayNames[0], RootCAPEM: in.ready.GatewayRootCAPEM,
		Log: zerolog.Nop()})
	require.NoError(t, err)
	dev := fleet.Devices()[0]
	guid := dev.GUID().String()

	// The host is registered first, as in EIM (a recorded device whose host is gone gets deactivated), with vPro
	// enabled and the power wanted off.
	h := dao.CreateHostWithOpts(t, tenantID, true, func(h *computev1.HostResource) {
		h.Uuid = guid
		h.DesiredPowerState = computev1.PowerState_POWER_STATE_OFF
		h.DesiredAmtState = computev1.AmtState_AMT_STATE_PROVISIONED
	})
	c := creds.For("smoke", guid) // devrun's credentials
	csv := fmt.Sprintf("guid,tenant,cira_username,cira_password,amt_password\n%s,%s,%s,%s,%s\n",
		guid, tenantID, c.CIRAUser, c.CIRAPassword, c.AMTPassword)
	rep, err := devices.NewImporter(in.st, in.sec, zerolog.Nop()).Import(ctx, strings.NewReader(csv), devices.FormatCSV)
	require.NoError(t, err, "%+v", rep.Errors)

	devCtx, stopDevice := context.WithCancel(ctx)
	link := make(chan bool, 16)
	var devWG sync.WaitGroup
	devWG.Go(func() {
		_ = dev.RunCIRA(devCtx, amtsim.CIRAOptions{ServerAddr: in.ready.CIRA, MinBackoff: 50 * time.Millisecond,
			MaxBackoff: time.Second, OnLink: func(up bool) { link <- up }, Log: zerolog.Nop()})
	})
	defer func() {
		stopDevice()
		devWG.Wait()
	}()
	select {
	case up := <-link:
		require.True(t, up)
	case <-ctx.Done():
		t.Fatal("the device's CIRA link never came up")
	}
	t.Logf("CIRA link up after %s", time.Since(began).Round(time.Millisecond))

	// The device's power goes off as the user asked.
	requireHost(ctx, t, dao, tenantID, h.GetResourceId(), func(h *computev1.HostResource) bool {
		return h.GetCurrentPowerState() == computev1.PowerState_POWER_STATE_OFF && h.GetPowerStatus() == "Powered off" &&
			h.GetCurrentAmtState() == computev1.AmtState_AMT_STATE_PROVISIONED
	})
	_, err = dev.WaitFor(ctx, func(s amtsim.State) bool { return s.PowerState == amtsim.PowerOff })
	require.NoError(t, err)
	t.Logf("host powered off and reported after %s", time.Since(began).Round(time.Millisecond))

	// The REST API reads the device through the gateway; the southbound server records the agent's report.
	requireAPIVersion(t, in.ready.API, tenantID, guid)
	reportAMTSku(ctx, t, in.ready.DMServer, tenantID, guid)
	requireHost(ctx, t, dao, tenantID, h.GetResourceId(), func(h *computev1.HostResource) bool {
		return h.GetAmtSku() == computev1.AmtSku_AMT_SKU_AMT
	})

	// Flow 3: the node agent asks for activation details and runs rpc-go against the activation websocket; the
	// newly activated device dials the gateway and Inventory shows it provisioned.
	activate(ctx, t, in, dao, tenantID)
	t.Logf("second device activated and connected after %s", time.Since(began).Round(time.Millisecond))

	stopAt := time.Now()
	in.stop(t)
	t.Logf("stopped in %s", time.Since(stopAt).Round(time.Millisecond))
}

func requireBootstrapped(ctx context.Context, t *testing.T, in *instance, tenantID string) {
	t.Helper()
	pwPath, err := secrets.TenantAMTPassword(tenantID)
	require.NoError(t, err)
	poll(ctx, t, "tenant bootstrap", func() bool {
		tn, err := in.st.GetTenant(ctx, tenantID)
		if err != nil || tn.CIRAServerAddress != ciraServerAddress || tn.CIRARootCertDERB64 == "" {
			return false
		}
		profiles, err := in.st.ListProfiles(ctx, tenantID)
		if err != nil || len(profiles) != 2 {
			return false
		}
		pw, err := in.sec.Get(ctx, pwPath)
		return err == nil && pw[secrets.KeyPassword] != ""
	})
}

func requireHost(ctx context.Context, t *testing.T, dao *inv_testing.InvResourceDAO, tenantID, resourceID string,
	cond func(*computev1.HostResource) bool,
) {
	t.Helper()
	var last *computev1.HostResource
	poll(ctx, t, "host state", func() bool {
		resp, err := dao.GetAPIClient().Get(ctx, tenantID, resourceID)
		if err != nil {
			return false
		}
		last = resp.GetResource().GetHost()
		return cond(last)
	}, func() string {
		return fmt.Sprintf("power %s %q, AMT %s %q, sku %s", last.GetCurrentPowerState(), last.GetPowerStatus(),
			last.GetCurrentAmtState(), last.GetAmtStatus(), last.GetAmtSku())
	})
}

// poll waits for a condition of another system (database rows, Inventory fields) that sends no signal.
func poll(ctx context.Context, t *testing.T, what string, cond func() bool, describe ...func() string) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			msg := ""
			for _, d := range describe {
				msg = d()
			}
			t.Fatalf("%s: not reached before the deadline %s", what, msg)
		case <-tick.C:
		}
	}
}

func requireServing(t *testing.T, addr string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())
}

func requireAPIVersion(t *testing.T, apiAddr, tenantID, guid string) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 15 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://%s/v1/projects/%s/dm/amt/version/%s", apiAddr, tenantID, guid))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Contains(t, string(body), "16.1.25") // amtsim's default AMT version
}

func reportAMTSku(ctx context.Context, t *testing.T, addr, tenantID, guid string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx = metadata.AppendToOutgoingContext(ctx, "activeprojectid", tenantID)
	_, err = pb.NewDeviceManagementClient(conn).ReportAMTStatus(ctx, &pb.AMTStatusRequest{
		HostId: strings.ToUpper(guid), Status: pb.AMTStatus_ENABLED, Feature: "AMT"})
	require.NoError(t, err)
}

// activate runs architecture flow 3 for a device in pre-provisioning whose host wants vPro.
func activate(ctx context.Context, t *testing.T, in *instance, dao *inv_testing.InvResourceDAO, tenantID string) {
	t.Helper()
	dev, err := amtsim.New(amtsim.Config{Log: zerolog.Nop()})
	require.NoError(t, err)
	guid := dev.GUID().String()
	h := dao.CreateHostWithOpts(t, tenantID, true, func(h *computev1.HostResource) {
		h.Uuid = guid
		h.DesiredAmtState = computev1.AmtState_AMT_STATE_PROVISIONED
	})

	conn, err := grpc.NewClient(in.ready.DMServer, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	agentCtx := metadata.AppendToOutgoingContext(ctx, "activeprojectid", tenantID)
	details, err := pb.NewDeviceManagementClient(conn).RetrieveActivationDetails(agentCtx,
		&pb.ActivationRequest{HostId: guid})
	require.NoError(t, err)
	require.Equal(t, pb.OperationType_ACTIVATE, details.GetOperation())
	require.Equal(t, tenantID+"_ccm", details.GetProfileName())

	res, err := rpc.Run(ctx, dev, rpc.Config{URL: "ws://" + in.ready.Activation + "/activate",
		Command: rpc.ActivateCommand(details.GetProfileName(), false), Password: details.GetActionPassword(),
		Log: zerolog.Nop()})
	require.NoError(t, err)
	require.True(t, res.OK(), res.Text())
	require.True(t, dev.CIRA().Configured())

	devCtx, stopDevice := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		// AMT was told to dial cira.smoke.test:4433 and to trust our root; only the address is redirected.
		_ = dev.RunCIRA(devCtx, amtsim.CIRAOptions{ServerAddr: in.ready.CIRA, MinBackoff: 50 * time.Millisecond,
			MaxBackoff: time.Second, Log: zerolog.Nop()})
	})
	defer func() {
		stopDevice()
		wg.Wait()
	}()
	requireHost(ctx, t, dao, tenantID, h.GetResourceId(), func(h *computev1.HostResource) bool {
		return h.GetCurrentAmtState() == computev1.AmtState_AMT_STATE_PROVISIONED && h.GetAmtStatus() == "AMT connected"
	})
}
