package cluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/store/storetest"
	"github.com/dmrm/dm-manager/test/procs"
)

const (
	replicaSecret = "cluster-e2e-replica-secret-0123456789"
	// ciraName is what devices are told to dial; they reach HAProxy's CIRA port and check this name.
	ciraName = "cira.cluster.test"
)

// freePort returns a loopback port nothing listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	addr, err := procs.FreePort()
	require.NoError(t, err)
	return procs.Port(addr)
}

func hostPort(p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }

// proc is a child process with its log file (test/procs, shared with the chaos suite and the load harness).
type proc struct{ *procs.Proc }

func startProc(t testing.TB, dir, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &procs.Proc{Name: name, Bin: bin, Args: args, Env: env, Log: filepath.Join(dir, name+".log")}
	require.NoError(t, p.Start())
	return &proc{p}
}

// stop sends SIGTERM and waits up to wait, then SIGKILL.
func (p *proc) stop(wait time.Duration) error { return p.Stop(wait) }

func (p *proc) kill() { p.Kill(syscall.SIGKILL) }

// waitServing waits for gRPC health SERVING.
func waitServing(ctx context.Context, t testing.TB, p *proc, addr string) {
	t.Helper()
	require.NoError(t, procs.WaitServing(ctx, p.Proc, addr))
}

// build compiles the binaries the cluster runs, once per package run.
var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func binaries(t testing.TB) (dmManager, inventory string) {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "dm-cluster-bin-")
		if buildErr != nil {
			return
		}
		buildErr = procs.Build(buildDir, map[string]string{"dm-manager": procs.DMManagerPkg,
			"inventory": procs.InventoryPkg + "/cmd/server"})
	})
	require.NoError(t, buildErr)
	return filepath.Join(buildDir, "dm-manager"), filepath.Join(buildDir, "inventory")
}

// startInventory runs the real Inventory server as a process on its own database (test/procs: policy bundle built
// by opa, schema migrated by atlas, as scripts/demo.sh).
func startInventory(ctx context.Context, t testing.TB, dir, bin string) string {
	t.Helper()
	require.NoError(t, procs.NeedTools("opa", "atlas", "haproxy"))
	dsn, drop, err := storetest.CreateDatabase("dmm_cluster_inventory_test")
	require.NoError(t, err)
	t.Cleanup(func() { _ = drop() })
	p, addr, err := procs.StartInventory(ctx, filepath.Join(dir, "inventory"), bin, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Stop(10 * time.Second) })
	return addr
}

// replicaProc is one `dm-manager serve` of the cluster; its ports stay the same across restarts.
type replicaProc struct {
	id                                 string
	cira, api, oam, act, sb, rep, metr int
	args                               []string
	env                                []string
	bin, dir                           string
	p                                  *proc
}

func newReplica(t testing.TB, i int, bin, dir, dsn, key, inventory string) *replicaProc {
	r := &replicaProc{id: fmt.Sprintf("replica-%d", i), cira: freePort(t), api: freePort(t), oam: freePort(t),
		act: freePort(t), sb: freePort(t), rep: freePort(t), metr: freePort(t), bin: bin, dir: dir}
	r.env = []string{"DM_SECRETS_KEY=" + key, "DM_REPLICA_SECRET=" + replicaSecret}
	r.args = []string{"serve", "-databaseURL=" + dsn, "-inventoryAddress=" + inventory, "-insecureGRPC=true",
		"-enableAuth=false", "-infraConfigPath=", "-ciraServerAddress=" + ciraName + ":4433",
		"-activationURL=ws://127.0.0.1/activate", "-replicaID=" + r.id,
		"-ciraAddress=" + hostPort(r.cira), "-apiAddress=" + hostPort(r.api), "-oamServerAddress=" + hostPort(r.oam),
		"-activationAddress=" + hostPort(r.act), "-dmServerAddress=" + hostPort(r.sb),
		"-metricsAddress=" + hostPort(r.metr), "-replicaListenAddress=" + hostPort(r.rep),
		"-replicaAddress=" + hostPort(r.rep), "-softPowerTimeout=3s", "-reconcilePeriod=10s",
		"-requestTimeout=10s", "-shutdownTimeout=10s", "-globalLogLevel=info"}
	return r
}

func (r *replicaProc) start(ctx context.Context, t testing.TB) {
	t.Helper()
	r.p = startProc(t, r.dir, r.id, r.env, r.bin, r.args...)
	waitServing(ctx, t, r.p, hostPort(r.oam))
}

// randomKey is a fresh embedded-secrets key.
func randomKey() string {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// startHAProxy balances CIRA in TCP mode (a device's TLS session ends at the replica) and round-robins the REST
// API and the activation websocket, with health checks so a dead replica is skipped.
func startHAProxy(ctx context.Context, t testing.TB, dir string, rs []*replicaProc) (cira, api, activation string) {
	t.Helper()
	cira, api, activation = hostPort(freePort(t)), hostPort(freePort(t)), hostPort(freePort(t))
	servers := func(port func(*replicaProc) int) []procs.Server {
		var out []procs.Server
		for _, r := range rs {
			out = append(out, procs.Server{Name: r.id, Addr: hostPort(port(r))})
		}
		return out
	}
	cfg := procs.HAProxyConfig(9000, []procs.Frontend{
		{Name: "cira", Mode: "tcp", Bind: cira, Servers: servers(func(r *replicaProc) int { return r.cira })},
		{Name: "api", Mode: "http", Bind: api, Servers: servers(func(r *replicaProc) int { return r.api })},
		{Name: "activation", Mode: "http", Bind: activation, Servers: servers(func(r *replicaProc) int { return r.act })},
	})
	p, err := procs.StartHAProxy(ctx, dir, "haproxy", cfg, cira)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Stop(5 * time.Second) })
	return cira, api, activation
}
