package chaos

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/secrets/vaulttest"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/internal/store/storetest"
	"github.com/dmrm/dm-manager/test/procs"
)

// freePort returns a loopback address nothing listens on now.
func freePort(tb testing.TB) string {
	tb.Helper()
	addr, err := procs.FreePort()
	require.NoError(tb, err)
	return addr
}

// build compiles the Inventory server and dm-manager into dir.
func build(tb testing.TB, dir string) (inventory, dmManager string) {
	tb.Helper()
	require.NoError(tb, procs.Build(dir, map[string]string{"inventory": procs.InventoryPkg + "/cmd/server",
		"dm-manager": procs.DMManagerPkg}))
	return filepath.Join(dir, "inventory"), filepath.Join(dir, "dm-manager")
}

func repoRoot(tb testing.TB) string {
	tb.Helper()
	root, err := procs.RepoRoot()
	require.NoError(tb, err)
	return root
}

// stageInventory prepares Inventory's policy bundle (opa) and migrations (applied by atlas at its start), as
// scripts/demo.sh does (test/procs, shared with test/cluster and the load harness).
func stageInventory(tb testing.TB, dir string) (migrations, bundle string) {
	tb.Helper()
	migrations, bundle, err := procs.StageInventory(dir)
	require.NoError(tb, err, "run scripts/testenv.sh and put .cache/bin on PATH")
	return migrations, bundle
}

// stack is Inventory, dm-manager (through the Postgres proxy) and the suite's own connections.
type stack struct {
	dir        string
	inv        *procs.Proc
	dm         *procs.Proc
	invAddr    string
	cira, oam  string
	activation string            // the activation websocket's address
	vault      *vaulttest.Server // the Vault stand-in, with -secretsBackend vault; nil with embedded
	proxy      *pgProxy
	dmDSN      string // direct, for the suite
	key        string
	st         *store.Store
	db         *pgxpool.Pool // the suite's own connections for fault injection (journal holds, backend kills)
	sec        secrets.Store
	rootCA     []byte
}

// startStack starts Inventory and dm-manager. backend is dm-manager's -secretsBackend: with secrets.BackendVault
// it logs in by AppRole to the in-process Vault stand-in (tokens of 30 s, renewable up to 1 h, so an outage
// outlives the token), with secrets.BackendEmbedded it seals them in Postgres.
func startStack(tb testing.TB, timers []string, backend string) *stack {
	tb.Helper()
	// Logs stay after a failure (.cache/chaos-<time>/); the directory goes when the suite passes.
	dir := filepath.Join(repoRoot(tb), ".cache", "chaos-"+time.Now().Format("150405"))
	require.NoError(tb, os.MkdirAll(dir, 0o755))
	tb.Cleanup(func() {
		if !tb.Failed() {
			_ = os.RemoveAll(dir)
		}
	})
	t0 := time.Now()
	invBin, dmBin := build(tb, dir)
	tb.Logf("Inventory server and dm-manager built in %s", time.Since(t0).Round(time.Second))
	migrations, bundle := stageInventory(tb, dir)

	invDSN, dropInv, err := storetest.CreateDatabase("dmm_chaos_inventory_test")
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = dropInv() })
	dmDSN, dropDM, err := storetest.CreateDatabase("dmm_chaos_test")
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = dropDM() })

	s := &stack{dir: dir, dmDSN: dmDSN}
	u, err := url.Parse(invDSN)
	require.NoError(tb, err)
	pw, _ := u.User.Password()
	s.invAddr = freePort(tb)
	s.inv = &procs.Proc{Name: "inventory", Bin: invBin, Log: filepath.Join(dir, "inventory.log"),
		Args: []string{"-serverAddress", s.invAddr, "-oamServerAddress", freePort(tb), "-migrationsDir", migrations,
			"-policyBundlePath", bundle, "-globalLogLevel", "warn"},
		Env: []string{"PGHOST=" + u.Hostname(), "PGPORT=" + u.Port(), "PGDATABASE=" + strings.TrimPrefix(u.Path, "/"),
			"PGUSER=" + u.User.Username(), "PGPASSWORD=" + pw, "PGSSLMODE=disable"}}
	s.startInventory(tb)
	tb.Cleanup(func() { s.inv.Kill(syscall.SIGTERM) })

	s.proxy = startProxy(tb, u.Host)
	proxied := *mustURL(tb, dmDSN)
	proxied.Host = s.proxy.addr

	var secretArgs, secretEnv []string
	secOpts := secrets.Options{Backend: backend}
	switch backend {
	case secrets.BackendEmbedded:
		raw := make([]byte, secrets.KeySize)
		_, _ = rand.Read(raw)
		s.key = base64.StdEncoding.EncodeToString(raw)
		keyFile := filepath.Join(dir, "secrets.key")
		require.NoError(tb, os.WriteFile(keyFile, []byte(s.key), 0o600))
		secretArgs = []string{"-secretsBackend", backend, "-secretsKeyFile", keyFile}
		secOpts.Key = s.key
	case secrets.BackendVault:
		s.vault = vaulttest.New()
		tb.Cleanup(s.vault.Close)
		s.vault.AddAppRole("dm-manager", "chaos-role", "chaos-secret-id",
			vaulttest.TokenSpec{TTL: 30 * time.Second, MaxTTL: time.Hour, Renewable: true})
		secretArgs = []string{"-secretsBackend", backend, "-vaultAddress", s.vault.URL, "-vaultAuth", secrets.AuthAppRole,
			"-vaultKVMount", "secret", "-vaultPathPrefix", "dm-manager"}
		secretEnv = []string{"VAULT_ROLE_ID=chaos-role", "VAULT_SECRET_ID=chaos-secret-id"}
		// The suite's own client: a token that never expires.
		secOpts.VaultAddress, secOpts.VaultAuth = s.vault.URL, secrets.AuthToken
		secOpts.VaultToken = s.vault.CreateToken(vaulttest.TokenSpec{})
		secOpts.VaultKVMount, secOpts.VaultPathPrefix = "secret", "dm-manager"
	default:
		tb.Fatalf("secrets backend %q", backend)
	}

	s.cira, s.oam, s.activation = freePort(tb), freePort(tb), freePort(tb)
	s.dm = &procs.Proc{Name: "dm-manager", Bin: dmBin, Log: filepath.Join(dir, "dm-manager.log"), Env: secretEnv,
		Args: append(append([]string{"serve", "-inventoryAddress", s.invAddr, "-insecureGRPC=true", "-enableAuth=false",
			"-databaseURL", proxied.String(),
			"-dmServerAddress", freePort(tb), "-ciraAddress", s.cira, "-activationAddress", s.activation,
			"-apiAddress", freePort(tb), "-oamServerAddress", s.oam, "-ciraServerAddress", gatewayName + ":" + portOf(s.cira),
			"-activationURL", "ws://127.0.0.1/activate", "-replicaID", "chaos"}, secretArgs...), timers...)}
	s.startDM(tb)
	tb.Cleanup(func() {
		s.dm.Kill(syscall.SIGTERM)
		if tb.Failed() {
			tb.Logf("logs kept in %s (dm-manager.log, inventory.log)", dir)
		}
	})

	s.st, err = store.Open(context.Background(), dmDSN, store.ConnectOptions{}, zerolog.Nop())
	require.NoError(tb, err)
	tb.Cleanup(s.st.Close)
	s.db, err = pgxpool.New(context.Background(), dmDSN)
	require.NoError(tb, err)
	tb.Cleanup(s.db.Close)
	s.sec, err = secrets.Open(context.Background(), secOpts, s.st, zerolog.Nop())
	require.NoError(tb, err)
	tb.Cleanup(s.sec.Close)
	ca, err := s.sec.Get(context.Background(), secrets.GatewayCA())
	require.NoError(tb, err)
	s.rootCA = []byte(ca[secrets.KeyCertPEM])
	require.NotEmpty(tb, s.rootCA)
	return s
}

func mustURL(tb testing.TB, s string) *url.URL {
	tb.Helper()
	u, err := url.Parse(s)
	require.NoError(tb, err)
	return u
}

func (s *stack) startInventory(tb testing.TB) {
	tb.Helper()
	require.NoError(tb, s.inv.Start())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(tb, procs.WaitTCP(ctx, s.inv, s.invAddr))
}

// startDM starts dm-manager and waits until its health says SERVING.
func (s *stack) startDM(tb testing.TB) time.Duration {
	tb.Helper()
	t0 := time.Now()
	require.NoError(tb, s.dm.Start())
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	require.NoError(tb, procs.WaitServing(ctx, s.dm, s.oam), "see %s", s.dm.Log)
	return time.Since(t0)
}

// killDM kills dm-manager with SIGKILL and ends the transactions its connections left open (a kill leaves the
// server side of a connection until Postgres notices; the suite's held steps would keep their row locks).
func (s *stack) killDM(tb testing.TB) {
	tb.Helper()
	s.dm.Kill(syscall.SIGKILL)
	s.proxy.dropAll()
	_, err := s.db.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event = 'PgSleep'`)
	require.NoError(tb, err)
}

// gatewayName is the CIRA server name devices are configured with (an FQDN, as AMT's AddMpServer wants); they are
// pointed at the bound loopback port instead (amtsim.CIRAOptions.ServerAddr).
const gatewayName = "cira.chaos.test"

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
