// Package procs builds and runs the servers that system tests and the load harness start as processes — the real
// Inventory server, `dm-manager serve`, HAProxy — each with its own log file, stopped with SIGTERM (then SIGKILL)
// and never outliving the process that started it.
//
// It returns errors instead of taking a testing.TB, so that commands (test/load/serve) use it as tests do.
package procs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// InventoryPkg is the module of the real Inventory server (its cmd/server is built).
const InventoryPkg = "github.com/open-edge-platform/infra-core/inventory/v2"

// DMManagerPkg is the shipped binary.
const DMManagerPkg = "github.com/dmrm/dm-manager/cmd/dm-manager"

// Proc is a server run as a process, restartable with the same arguments. Its output is appended to Log.
type Proc struct {
	Name string
	Bin  string
	Args []string
	Env  []string // added to this process's environment
	Log  string

	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start runs the process. It is killed if the starting process dies (Pdeathsig), so a crashed test or harness
// leaves nothing behind.
func (p *Proc) Start() error {
	f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("procs: %s log: %w", p.Name, err)
	}
	cmd := exec.Command(p.Bin, p.Args...) //nolint:gosec // G204: binaries the caller built
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return fmt.Errorf("procs: starting %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.err = cmd, done, nil
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(done)
	}()
	return nil
}

// Pid is the running process's id (0 before Start).
func (p *Proc) Pid() int {
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Alive reports whether the process was started and has not exited.
func (p *Proc) Alive() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Err is the process's exit error once it has exited.
func (p *Proc) Err() error { return p.err }

// Stop sends SIGTERM and waits up to wait, then SIGKILL; it returns the exit error, or that the process had to
// be killed. Stopping a process that is not running does nothing.
func (p *Proc) Stop(wait time.Duration) error {
	if p.cmd == nil {
		return nil
	}
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
		return fmt.Errorf("procs: %s did not stop within %s of SIGTERM", p.Name, wait)
	}
}

// Kill sends sig and waits for the exit (SIGKILL after 15 s).
func (p *Proc) Kill(sig syscall.Signal) {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Tail is the last n lines of the log.
func (p *Proc) Tail(n int) string {
	b, _ := os.ReadFile(p.Log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// exited is the error for a process that ended while being waited for.
func (p *Proc) exited(what string) error {
	return fmt.Errorf("procs: %s exited before %s: %v\n%s", p.Name, what, p.err, p.Tail(20))
}

// FreePort returns a loopback host:port nothing listens on now.
func FreePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// Port is the port of host:port.
func Port(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

// WaitTCP waits until addr accepts connections (a server sends no readiness signal of its own).
func WaitTCP(ctx context.Context, p *Proc, addr string) error {
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			return c.Close()
		}
		select {
		case <-p.done:
			return p.exited("listening on " + addr)
		case <-ctx.Done():
			return fmt.Errorf("procs: %s not listening on %s: %w\n%s", p.Name, addr, ctx.Err(), p.Tail(20))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitServing waits until the gRPC health service on addr says SERVING, watching rather than polling.
func WaitServing(ctx context.Context, p *Proc, addr string) error {
	if err := WaitTCP(ctx, p, addr); err != nil {
		return err
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer cc.Close()
	for {
		if w, err := healthpb.NewHealthClient(cc).Watch(ctx, &healthpb.HealthCheckRequest{}); err == nil {
			for {
				r, err := w.Recv()
				if err != nil {
					break
				}
				if r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
					return nil
				}
			}
		}
		select {
		case <-p.done:
			return p.exited("serving")
		case <-ctx.Done():
			return fmt.Errorf("procs: %s not serving: %w\n%s", p.Name, ctx.Err(), p.Tail(20))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// RepoRoot is the directory of the main module.
func RepoRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("procs: go list -m: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Build compiles each package (import path, built from the main module) to dir/<name>.
func Build(dir string, pkgs map[string]string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	for name, pkg := range pkgs {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg) //nolint:gosec // G204: packages the caller names
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("procs: go build %s: %w\n%s", pkg, err, b)
		}
	}
	return nil
}

// errNoTool names the setup step that provides the tools the Inventory server and HAProxy need.
var errNoTool = errors.New("run scripts/testenv.sh and `. .cache/env` (make test does)")

// NeedTools checks that each tool is on PATH.
func NeedTools(tools ...string) error {
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("procs: %s is not on PATH: %w", t, errNoTool)
		}
	}
	return nil
}
