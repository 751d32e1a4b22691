package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	inv_testing "github.com/open-edge-platform/infra-core/inventory/v2/pkg/testing"

	"github.com/dmrm/dm-manager/internal/app"
	"github.com/dmrm/dm-manager/internal/auth"
	"github.com/dmrm/dm-manager/internal/auth/authtest"
	"github.com/dmrm/dm-manager/internal/config"
	"github.com/dmrm/dm-manager/internal/events/mqtttest"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/southbound/pb"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/internal/store/storetest"
	"github.com/dmrm/dm-manager/test/invtest"
)

// TestMain runs the package against the in-process Inventory. The token verifier reads its HS256 key from the
// environment (emf-conventions §5), as EMF's own tests do.
func TestMain(m *testing.M) {
	if err := os.Setenv(auth.EnvSharedSecret, authtest.Secret); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	secretSeen("token signing key", authtest.Secret)
	// dm-manager logs at debug level for the leak scan (secrets_scan_test.go), and zerolog's global level gates
	// every logger: Inventory's test server then logs every SQL statement too (go test shows it only on failure).
	// A benchmark keeps the global level at warnings, as those logs cost a third of its CPU time; the lines
	// dm-manager still logs are scanned all the same.
	flag.Parse()
	level := zerolog.DebugLevel
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		level = min(zerolog.WarnLevel, logLevel())
	}
	zerolog.SetGlobalLevel(level)
	invtest.Main(m)
}

// Short timings, so that every scenario runs in seconds (contracts: flags).
const (
	softPowerTimeout = 2 * time.Second
	disconnectGrace  = 2 * time.Second
	// advertisedCIRA is what devices are configured to dial; they are pointed at the bound port instead
	// (amtsim.CIRAOptions.ServerAddr) and check the gateway certificate against its host name.
	advertisedCIRA = "cira.e2e.test:4433"
	// waitLong bounds one expected change in Inventory or on a device; the slowest (hard off after the soft
	// timeout, disconnect after the grace) need a few seconds, -race on two busy cores a few more.
	waitLong = 45 * time.Second
)

// dm is one dm-manager (app.Run) on its own database, restartable on the same database and ports.
type dm struct {
	tb    testing.TB
	cfg   *config.Config
	dsn   string
	key   string
	log   zerolog.Logger
	addrs boundAddrs
	ready app.Ready

	cancel context.CancelFunc
	done   chan error

	st    *store.Store  // the test's own connection to dm-manager's database
	sec   secrets.Store // and to its secrets
	watch *hostWatch
	sb    pb.DeviceManagementClient
	mqtt  *mqtttest.Subscriber // every event this dm-manager published (events_test.go)

	devCtx  context.Context
	stopDev context.CancelFunc
	devWG   sync.WaitGroup

	mu      sync.Mutex
	hosts   [][2]string // tenant, resource ID: deleted from Inventory at the end
	tenants [][2]string // tenant, resource ID
}

type boundAddrs struct{ dmServer, cira, activation, api, oam string }

// startDM runs dm-manager on a fresh database named dbName with auth on (HS256), short timers and every
// listener on a loopback port. Everything is stopped and removed when tb ends.
func startDM(tb testing.TB, dbName string, extraArgs ...string) *dm {
	tb.Helper()
	dsn, drop, err := storetest.CreateDatabase(dbName)
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, drop()) })

	raw := make([]byte, secrets.KeySize)
	_, _ = rand.Read(raw)
	key := base64.StdEncoding.EncodeToString(raw)
	secretSeen("secrets key", key)
	secretSeen("secrets key (hex)", hex.EncodeToString(raw))
	env := map[string]string{"DM_SECRETS_KEY": key}
	args := append([]string{
		"-databaseURL=" + dsn, "-inventoryAddress=" + invtest.Address, "-infraConfigPath=",
		"-ciraServerAddress=" + advertisedCIRA, "-activationURL=wss://localhost/activate",
		"-enableAuth=true", "-rbacRules=../../internal/auth/rego/authz.rego", "-replicaID=e2e",
		"-softPowerTimeout=" + softPowerTimeout.String(), "-statusChangeGracePeriod=" + disconnectGrace.String(),
		"-reconcilePeriod=5s", "-requestTimeout=10s", "-parallelism=10",
	}, append(eventArgs(tb), extraArgs...)...)
	cfg, err := config.Load(args, func(k string) string { return env[k] })
	require.NoError(tb, err)

	d := &dm{tb: tb, cfg: cfg, dsn: dsn, key: key, log: testLogger(tb), mqtt: subscribeEvents(tb, cfg)}
	tb.Cleanup(func() { requireNoLeaks(tb) }) // after d.close: the whole log of this dm-manager
	d.devCtx, d.stopDev = context.WithCancel(context.Background())
	tb.Cleanup(d.close)
	d.watch = newHostWatch(tb)
	d.run(tb)

	d.st, err = store.Open(context.Background(), dsn, store.ConnectOptions{}, zerolog.Nop())
	require.NoError(tb, err)
	d.sec, err = secrets.Open(context.Background(), secrets.Options{Backend: secrets.BackendEmbedded, Key: key},
		d.st, zerolog.Nop())
	require.NoError(tb, err)
	ca, err := d.sec.Get(context.Background(), secrets.GatewayCA())
	require.NoError(tb, err)
	secretBlobSeen("gateway CA private key", ca[secrets.KeyKeyPEM])
	conn, err := grpc.NewClient(d.ready.DMServer, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(recordErrors))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = conn.Close() })
	d.sb = pb.NewDeviceManagementClient(conn)
	return d
}

// logLevel is E2E_LOG's level (default error).
func logLevel() zerolog.Level {
	lvl, err := zerolog.ParseLevel(os.Getenv("E2E_LOG"))
	if err != nil || os.Getenv("E2E_LOG") == "" {
		return zerolog.ErrorLevel
	}
	return lvl
}

// testLogger writes dm-manager's log into the test output at E2E_LOG's level, and at debug level into dmLogs.
func testLogger(tb testing.TB) zerolog.Logger {
	out := &zerolog.FilteredLevelWriter{Writer: zerolog.LevelWriterAdapter{Writer: zerolog.NewTestWriter(tb)},
		Level: logLevel()}
	return zerolog.New(zerolog.MultiLevelWriter(out, dmLogs)).Level(zerolog.DebugLevel).With().Timestamp().Logger()
}

// run starts app.Run on the ports of the previous run (or fresh ones) and waits until it is ready.
func (d *dm) run(tb testing.TB) {
	tb.Helper()
	var lis app.Listeners
	for _, l := range []struct {
		into *net.Listener
		addr *string
	}{
		{&lis.DMServer, &d.addrs.dmServer}, {&lis.CIRA, &d.addrs.cira}, {&lis.Activation, &d.addrs.activation},
		{&lis.API, &d.addrs.api}, {&lis.OAM, &d.addrs.oam},
	} {
		addr := *l.addr
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		var err error
		*l.into, err = net.Listen("tcp", addr)
		require.NoError(tb, err, "binding %s", addr)
		*l.addr = (*l.into).Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	readyCh := make(chan app.Ready, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, d.cfg, app.Options{
			InventoryDialOptions: invtest.DialOptions(), Listeners: lis, Log: d.log,
			OnReady: func(r app.Ready) { readyCh <- r },
			// amtsim takes new credentials at once; keep the wait real AMT needs, shortened.
			ActivationPostSetupDelay: 100 * time.Millisecond, ActivationTLSRolloverDelay: time.Second,
		})
	}()
	d.cancel, d.done = cancel, done
	select {
	case d.ready = <-readyCh:
	case err := <-done:
		cancel()
		d.cancel = nil
		tb.Fatalf("app.Run ended before it was ready: %v", err)
	case <-time.After(90 * time.Second):
		tb.Fatal("app.Run not ready after 90s")
	}
}

// stopRun ends app.Run as SIGTERM would and requires a clean stop.
func (d *dm) stopRun(tb testing.TB) {
	tb.Helper()
	if d.cancel == nil {
		return
	}
	d.cancel()
	d.cancel = nil
	select {
	case err := <-d.done:
		require.NoError(tb, err, "app.Run")
	case <-time.After(45 * time.Second):
		tb.Fatal("app.Run did not return within 45s of the stop")
	}
}

// close stops dm-manager, then the devices, removes what the test created in Inventory and closes the test's
// connections.
func (d *dm) close() {
	d.stopRun(d.tb)
	d.stopDev()
	d.devWG.Wait()
	d.watch.close()
	dao := invtest.DAO(d.tb)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, h := range d.hosts {
		if err := dao.HardDeleteHostAndReturnError(d.tb, h[0], h[1]); err != nil {
			d.tb.Logf("removing host %s: %v", h[1], err)
		}
	}
	for _, t := range d.tenants {
		if err := dao.HardDeleteTenantAndReturnError(d.tb, t[0], t[1]); err != nil {
			d.tb.Logf("removing tenant %s: %v", t[0], err)
		}
	}
	if d.sec != nil {
		d.sec.Close()
	}
	if d.st != nil {
		d.st.Close()
	}
}

// newTenant creates a tenant in Inventory, as EMF's tenant controller does, and waits for dm-manager to set it up:
// CIRA configuration, the CCM and ACM profiles and the static-policy AMT password.
func (d *dm) newTenant(tb testing.TB) string {
	tb.Helper()
	id := uuid.NewString()
	tn := invtest.DAO(tb).CreateTenantWithOpts(tb, id, false, inv_testing.TenantDesiredStateCreated())
	d.mu.Lock()
	d.tenants = append(d.tenants, [2]string{id, tn.GetResourceId()})
	d.mu.Unlock()
	pwPath, err := secrets.TenantAMTPassword(id)
	require.NoError(tb, err)
	ctx := context.Background()
	eventually(tb, waitLong, "tenant "+id+" set up by dm-manager", func() (bool, string) {
		t, err := d.st.GetTenant(ctx, id)
		if err != nil || t.CIRAServerAddress != advertisedCIRA || t.CIRARootCertDERB64 == "" {
			return false, fmt.Sprintf("tenant row: %v", err)
		}
		profiles, err := d.st.ListProfiles(ctx, id)
		if err != nil || len(profiles) != 2 {
			return false, fmt.Sprintf("%d profiles (%v)", len(profiles), err)
		}
		pw, err := d.sec.Get(ctx, pwPath)
		return err == nil && pw[secrets.KeyPassword] != "", "no AMT password yet"
	})
	d.tenantPassword(tb, id)
	return id
}

// tenantPassword is the tenant's static-policy AMT password, which the node agent is handed.
func (d *dm) tenantPassword(tb testing.TB, tenant string) string {
	tb.Helper()
	p, err := secrets.TenantAMTPassword(tenant)
	require.NoError(tb, err)
	m, err := d.sec.Get(context.Background(), p)
	require.NoError(tb, err)
	secretSeen("tenant AMT password", m[secrets.KeyPassword])
	return m[secrets.KeyPassword]
}

// eventually waits for a condition of another system that sends no signal (rows in dm-manager's database).
func eventually(tb testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not reached within %s (%s)", what, timeout, why)
		}
		<-tick.C
	}
}

// agentCtx carries a node agent's bearer token for tenant: a real HS256 token with <tenant>_en-agent-rw.
func agentCtx(ctx context.Context, tb testing.TB, tenant string) context.Context {
	tb.Helper()
	return withBearer(ctx, tokenSeen(authtest.HS256(tb, authtest.Claims(authtest.ENRoles(tenant)...))))
}

func withBearer(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// userToken is an EIM user's token with <tenant>_im-rw for each tenant.
func userToken(tb testing.TB, tenants ...string) string {
	tb.Helper()
	roles := []string{"default-roles-master"}
	for _, t := range tenants {
		roles = append(roles, t+"_"+auth.RoleIMRW)
	}
	return tokenSeen(authtest.HS256(tb, authtest.Claims(roles...)))
}

// tokenSeen registers a bearer token and its signature part: with the header and claims, which are no secret,
// the signature rebuilds the token.
func tokenSeen(token string) string {
	secretSeen("bearer token", token)
	secretSeen("bearer token signature", token[strings.LastIndexByte(token, '.')+1:])
	return token
}

// track records an Inventory host to remove when the test ends.
func (d *dm) track(tenant, resourceID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.hosts = append(d.hosts, [2]string{tenant, resourceID})
}

// deleteHost removes a host from Inventory as the northbound API and the owning RM do (two-phase delete).
func (d *dm) deleteHost(tb testing.TB, tenant, resourceID string) {
	tb.Helper()
	invtest.DAO(tb).HardDeleteHost(tb, tenant, resourceID)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.hosts = slices.DeleteFunc(d.hosts, func(h [2]string) bool { return h[1] == resourceID })
}

// goDevice runs fn (a device's CIRA client) until the test's devices are stopped.
func (d *dm) goDevice(fn func(ctx context.Context)) {
	d.devWG.Go(func() { fn(d.devCtx) })
}

// activationURL is the websocket rpc-go is pointed at.
func (d *dm) activationURL() string { return "ws://" + d.ready.Activation + "/activate" }

func apiURL(d *dm, tenant, path string) string {
	return "http://" + d.ready.API + "/v1/projects/" + tenant + "/dm" + "/" + strings.TrimPrefix(path, "/")
}
