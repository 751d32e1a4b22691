package cluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/dmrm/dm-manager/internal/store/storetest"
)

const (
	inventoryPkg  = "github.com/open-edge-platform/infra-core/inventory/v2"
	replicaSecret = "cluster-e2e-replica-secret-0123456789"
	// ciraName is what devices are told to dial; they reach HAProxy's CIRA port and check this name.
	ciraName = "cira.cluster.test"
)

// freePort returns a loopback port nothing listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func hostPort(p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }

// proc is a child process with its log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func startProc(t testing.TB, dir, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	require.NoError(t, err)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	require.NoError(t, cmd.Start(), "starting %s", name)
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p
}

// stop sends SIGTERM and waits up to wait, then SIGKILL.
func (p *proc) stop(wait time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(wait):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s of SIGTERM", p.name, wait)
	}
}

func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

// waitTCP waits for a process's port to accept connections (a process sends no readiness signal of its own).
func waitTCP(ctx context.Context, t testing.TB, p *proc, addr string) {
	t.Helper()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before listening on %s: %v\n%s", p.name, addr, p.err, p.tail())
		case <-ctx.Done():
			t.Fatalf("%s not listening on %s: %v\n%s", p.name, addr, ctx.Err(), p.tail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitServing waits for gRPC health SERVING, watching rather than polling.
func waitServing(ctx context.Context, t testing.TB, p *proc, addr string) {
	t.Helper()
	waitTCP(ctx, t, p, addr)
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc.Close()
	for {
		w, err := healthpb.NewHealthClient(cc).Watch(ctx, &healthpb.HealthCheckRequest{})
		if err == nil {
			for {
				r, err := w.Recv()
				if err != nil {
					break
				}
				if r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
					return
				}
			}
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before serving: %v\n%s", p.name, p.err, p.tail())
		case <-ctx.Done():
			t.Fatalf("%s not serving: %v\n%s", p.name, ctx.Err(), p.tail())
		case <-time.After(100 * time.Millisecond):
		}
	}
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
		for out, pkg := range map[string]string{"dm-manager": "github.com/dmrm/dm-manager/cmd/dm-manager",
			"inventory": inventoryPkg + "/cmd/server"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, out), pkg)
			if b, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
				return
			}
		}
	})
	require.NoError(t, buildErr)
	return filepath.Join(buildDir, "dm-manager"), filepath.Join(buildDir, "inventory")
}

// startInventory runs the real Inventory server as a process on its own database: its policy bundle built by
// opa from the module's rego/, its schema migrated by atlas from the module's migrations (as scripts/demo.sh).
func startInventory(ctx context.Context, t testing.TB, dir, bin string) string {
	t.Helper()
	for _, tool := range []string{"opa", "atlas", "haproxy"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not on PATH: run scripts/testenv.sh and `. .cache/env` (make test does)", tool)
		}
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", inventoryPkg).Output()
	require.NoError(t, err)
	mod := strings.TrimSpace(string(out))
	inv := filepath.Join(dir, "inventory")
	for _, d := range []string{"policy", "migrations"} {
		require.NoError(t, os.MkdirAll(filepath.Join(inv, d), 0o700))
	}
	copyGlob(t, filepath.Join(mod, "rego", "*.rego"), filepath.Join(inv, "policy"))
	copyGlob(t, filepath.Join(mod, "internal/ent/migrate/migrations", "*"), filepath.Join(inv, "migrations"))
	bundle := filepath.Join(inv, "policy_bundle.tar.gz")
	if b, err := exec.Command("opa", "build", filepath.Join(inv, "policy"), "-o", bundle).CombinedOutput(); err != nil {
		t.Fatalf("opa build: %v\n%s", err, b)
	}
	dsn, drop, err := storetest.CreateDatabase("dmm_cluster_inventory_test")
	require.NoError(t, err)
	t.Cleanup(func() { _ = drop() })
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	pw, _ := u.User.Password()
	port, oam := freePort(t), freePort(t)
	p := startProc(t, dir, "inventory", []string{"PGHOST=" + u.Hostname(), "PGPORT=" + u.Port(),
		"PGDATABASE=" + strings.TrimPrefix(u.Path, "/"), "PGUSER=" + u.User.Username(), "PGPASSWORD=" + pw,
		"PGSSLMODE=disable"}, bin, "-serverAddress", hostPort(port), "-oamServerAddress", hostPort(oam),
		"-migrationsDir", filepath.Join(inv, "migrations"), "-policyBundlePath", bundle, "-globalLogLevel", "warn")
	t.Cleanup(func() { _ = p.stop(10 * time.Second) })
	waitTCP(ctx, t, p, hostPort(port))
	return hostPort(port)
}

func copyGlob(t testing.TB, pattern, dst string) {
	t.Helper()
	files, err := filepath.Glob(pattern)
	require.NoError(t, err)
	require.NotEmpty(t, files, pattern)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o600))
	}
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
	pc, pa, pw := freePort(t), freePort(t), freePort(t)
	var b strings.Builder
	fmt.Fprintf(&b, `global
    maxconn 9000
defaults
    timeout connect 2s
    timeout client 10m
    timeout server 10m
    timeout tunnel 1h
frontend cira
    mode tcp
    bind 127.0.0.1:%d
    default_backend cira
backend cira
    mode tcp
    balance roundrobin
`, pc)
	for _, r := range rs {
		fmt.Fprintf(&b, "    server %s 127.0.0.1:%d check inter 500ms fall 2 rise 1\n", r.id, r.cira)
	}
	for _, fe := range []struct {
		name string
		port int
		back func(*replicaProc) int
	}{{"api", pa, func(r *replicaProc) int { return r.api }}, {"activation", pw, func(r *replicaProc) int { return r.act }}} {
		fmt.Fprintf(&b, "frontend %s\n    mode http\n    bind 127.0.0.1:%d\n    default_backend %s\nbackend %s\n    mode http\n    balance roundrobin\n",
			fe.name, fe.port, fe.name, fe.name)
		for _, r := range rs {
			fmt.Fprintf(&b, "    server %s 127.0.0.1:%d check inter 500ms fall 2 rise 1\n", r.id, fe.back(r))
		}
	}
	cfg := filepath.Join(dir, "haproxy.cfg")
	require.NoError(t, os.WriteFile(cfg, []byte(b.String()), 0o600))
	if out, err := exec.Command("haproxy", "-c", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	p := startProc(t, dir, "haproxy", nil, "haproxy", "-db", "-f", cfg)
	t.Cleanup(func() { _ = p.stop(5 * time.Second) })
	waitTCP(ctx, t, p, hostPort(pc))
	return hostPort(pc), hostPort(pa), hostPort(pw)
}
