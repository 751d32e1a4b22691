package procs

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// StageInventory prepares what the Inventory server reads at start in dir: its policy bundle (built by opa from
// the module's rego/) and its migrations (applied by atlas), as scripts/demo.sh does.
func StageInventory(dir string) (migrations, bundle string, err error) {
	if err := NeedTools("opa", "atlas"); err != nil {
		return "", "", err
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", InventoryPkg).Output()
	if err != nil {
		return "", "", fmt.Errorf("procs: go list -m %s: %w", InventoryPkg, err)
	}
	mod := strings.TrimSpace(string(out))
	policy := filepath.Join(dir, "policy")
	migrations = filepath.Join(dir, "migrations")
	for _, d := range []string{policy, migrations} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return "", "", err
		}
	}
	if err := copyGlob(filepath.Join(mod, "rego", "*.rego"), policy); err != nil {
		return "", "", err
	}
	if err := copyGlob(filepath.Join(mod, "internal", "ent", "migrate", "migrations", "*"), migrations); err != nil {
		return "", "", err
	}
	bundle = filepath.Join(dir, "policy_bundle.tar.gz")
	if b, err := exec.Command("opa", "build", policy, "-o", bundle).CombinedOutput(); err != nil { //nolint:gosec // G204: paths under the caller's directory
		return "", "", fmt.Errorf("procs: opa build: %w\n%s", err, b)
	}
	return migrations, bundle, nil
}

func copyGlob(pattern, dst string) error {
	files, err := filepath.Glob(pattern)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("procs: nothing matches %s", pattern)
	}
	for _, f := range files {
		b, err := os.ReadFile(f) //nolint:gosec // G304: files of a module in the module cache
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o600); err != nil { //nolint:gosec // G703: a base name from the module, into the caller's directory
			return err
		}
	}
	return nil
}

// Inventory returns the Inventory server process (not started) for database dsn, listening on addr: staged in
// dir, logging to dir/inventory.log at warn level.
func Inventory(dir, bin, dsn, addr string) (*Proc, error) {
	migrations, bundle, err := StageInventory(dir)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("procs: Inventory database URL: %w", err)
	}
	oam, err := FreePort()
	if err != nil {
		return nil, err
	}
	pw, _ := u.User.Password()
	return &Proc{Name: "inventory", Bin: bin, Log: filepath.Join(dir, "inventory.log"),
		Args: []string{"-serverAddress", addr, "-oamServerAddress", oam, "-migrationsDir", migrations,
			"-policyBundlePath", bundle, "-globalLogLevel", "warn"},
		Env: []string{"PGHOST=" + u.Hostname(), "PGPORT=" + u.Port(), "PGDATABASE=" + strings.TrimPrefix(u.Path, "/"),
			"PGUSER=" + u.User.Username(), "PGPASSWORD=" + pw, "PGSSLMODE=disable"}}, nil
}

// StartInventory stages, starts and waits for the Inventory server on a free loopback port.
func StartInventory(ctx context.Context, dir, bin, dsn string) (*Proc, string, error) {
	addr, err := FreePort()
	if err != nil {
		return nil, "", err
	}
	p, err := Inventory(dir, bin, dsn, addr)
	if err != nil {
		return nil, "", err
	}
	if err := p.Start(); err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := WaitTCP(ctx, p, addr); err != nil {
		_ = p.Stop(10 * time.Second)
		return nil, "", err
	}
	return p, addr, nil
}

// Frontend is one HAProxy frontend and its backend servers.
type Frontend struct {
	Name    string
	Mode    string // tcp or http
	Bind    string // host:port
	Servers []Server
}

// Server is one backend server.
type Server struct{ Name, Addr string }

// HAProxyConfig is a configuration balancing each frontend round robin over its servers, with health checks so
// a dead server is skipped. maxconn bounds each process's connections: HAProxy needs two descriptors per
// proxied connection.
func HAProxyConfig(maxconn int, fes []Frontend) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    maxconn %d
defaults
    timeout connect 2s
    timeout client 10m
    timeout server 10m
    timeout tunnel 1h
`, maxconn)
	for _, fe := range fes {
		fmt.Fprintf(&b, "frontend %s\n    mode %s\n    bind %s\n    default_backend %s\nbackend %s\n    mode %s\n    balance roundrobin\n",
			fe.Name, fe.Mode, fe.Bind, fe.Name, fe.Name, fe.Mode)
		for _, s := range fe.Servers {
			fmt.Fprintf(&b, "    server %s %s check inter 500ms fall 2 rise 1\n", s.Name, s.Addr)
		}
	}
	return b.String()
}

// StartHAProxy writes cfg to dir/<name>.cfg, checks it, starts HAProxy and waits until wait (one of its bind
// addresses) accepts connections. Several HAProxy processes may bind the same addresses: on Linux each binds
// with SO_REUSEPORT and the kernel spreads new connections over them.
func StartHAProxy(ctx context.Context, dir, name, cfg, wait string) (*Proc, error) {
	if err := NeedTools("haproxy"); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name+".cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	if out, err := exec.Command("haproxy", "-c", "-f", path).CombinedOutput(); err != nil { //nolint:gosec // G204: the configuration written above
		return nil, fmt.Errorf("procs: haproxy -c %s: %w\n%s", path, err, out)
	}
	p := &Proc{Name: name, Bin: "haproxy", Args: []string{"-db", "-f", path}, Log: filepath.Join(dir, name+".log")}
	if err := p.Start(); err != nil {
		return nil, err
	}
	if err := WaitTCP(ctx, p, wait); err != nil {
		_ = p.Stop(5 * time.Second)
		return nil, err
	}
	return p, nil
}
