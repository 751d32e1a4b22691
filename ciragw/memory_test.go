package ciragw

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/ciragw/apf"
)

// The idle-memory benchmark runs its devices in a child process (this test
// binary re-executed), so the parent's heap holds only the gateway's side.
const (
	helperEnv     = "CIRAGW_IDLE_CLIENTS"
	helperAddrEnv = "CIRAGW_IDLE_ADDR"
	helperRootEnv = "CIRAGW_IDLE_ROOT"
)

// BenchmarkSessionIdleMemory establishes N (CIRAGW_IDLE_N, default 1000)
// sessions and reports the gateway's heap+stack and RSS per idle session,
// then the CPU per keepalive answered and what that means at 10,000 devices
// with a 30 s interval. Run with -bench SessionIdleMemory -benchtime 1x.
func BenchmarkSessionIdleMemory(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("CIRAGW_IDLE_N")); err == nil {
		n = v
	}
	ca, cert := testPKI()
	g, err := New(Config{Certificate: cert, Authenticator: fleetAuth{}, Logger: testLogger(),
		MaxPendingHandshakes: n + 1, HandshakeTimeout: time.Minute})
	require.NoError(b, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- g.Serve(ctx, ln) }()
	defer func() {
		cancel()
		require.NoError(b, <-served)
	}()

	before := measure()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), helperEnv+"="+strconv.Itoa(n), helperAddrEnv+"="+ln.Addr().String(),
		helperRootEnv+"="+string(ca.RootPEM()))
	stdin, err := child.StdinPipe()
	require.NoError(b, err)
	stdout, err := child.StdoutPipe()
	require.NoError(b, err)
	child.Stderr = os.Stderr
	require.NoError(b, child.Start())
	defer func() {
		_ = stdin.Close()
		_ = child.Wait()
	}()
	lines := bufio.NewScanner(stdout)
	require.True(b, lines.Scan())
	require.Equal(b, "ready", lines.Text())
	// The last session registers just after its reply.
	require.Eventually(b, func() bool { return len(g.Sessions()) == n }, 10*time.Second, time.Millisecond)

	after := measure()
	if p := os.Getenv("CIRAGW_IDLE_HEAPPROFILE"); p != "" {
		f, _ := os.Create(p)
		_ = pprof.WriteHeapProfile(f)
		f.Close()
	}
	heap := float64(after.heap-before.heap) / float64(n)
	stack := float64(after.stack-before.stack) / float64(n)
	rss := float64(after.rss-before.rss) / float64(n)
	b.ReportMetric(heap, "heap-B/session")
	b.ReportMetric(stack, "stack-B/session")
	b.ReportMetric(rss, "rss-B/session")
	b.ReportMetric(float64(after.goroutines-before.goroutines)/float64(n), "goroutines/session")

	const rounds = 10
	cpu0 := cpuTime()
	_, err = fmt.Fprintf(stdin, "keepalive %d\n", rounds)
	require.NoError(b, err)
	require.True(b, lines.Scan())
	require.Equal(b, "done", lines.Text())
	perKA := (cpuTime() - cpu0) / time.Duration(n*rounds)
	b.ReportMetric(float64(perKA.Nanoseconds()), "cpu-ns/keepalive")
	// 10,000 devices, one keepalive each per 30 s.
	b.ReportMetric(100*float64(perKA)*10000/30/float64(time.Second), "%core@10k")
}

type memSample struct {
	heap, stack, rss uint64
	goroutines       int
}

func measure() memSample {
	var ms runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return memSample{heap: ms.HeapInuse, stack: ms.StackInuse, rss: vmRSS(), goroutines: runtime.NumGoroutine()}
}

func vmRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runIdleClients is the child: it establishes the sessions synchronously
// (no goroutines), says "ready", and answers "keepalive K" commands by
// sending K keepalives per session and reading the replies.
func runIdleClients() {
	n, _ := strconv.Atoi(os.Getenv(helperEnv))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(os.Getenv(helperRootEnv)))
	conf := &tls.Config{RootCAs: pool, ServerName: certName, MinVersion: tls.VersionTLS12}
	type dev struct {
		conn *tls.Conn
		rd   *apf.Reader
	}
	devs := make([]dev, n)
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "idle client:", err)
		os.Exit(1)
	}
	expect := func(d dev, want apf.Message) {
		m, err := d.rd.Next()
		if err != nil || m != want {
			fail(fmt.Errorf("got %v %v, want %v", m, err, want))
		}
	}
	for i := range devs {
		conn, err := tls.Dial("tcp", os.Getenv(helperAddrEnv), conf)
		if err != nil {
			fail(err)
		}
		d := dev{conn, apf.NewReader(conn, apf.Decoder{})}
		var b []byte
		for _, m := range []apf.Message{versionMsg(fleetGUID(i)), apf.ServiceRequest{Name: apf.ServiceAuth},
			authMsg(docPass), apf.ServiceRequest{Name: apf.ServicePortForward}, forwardMsg(apf.PortWSMan)} {
			b = m.AppendTo(b)
		}
		if _, err := conn.Write(b); err != nil {
			fail(err)
		}
		expect(d, apf.ServiceAccept{Name: apf.ServiceAuth})
		expect(d, apf.UserAuthSuccess{})
		expect(d, apf.ServiceAccept{Name: apf.ServicePortForward})
		expect(d, apf.RequestSuccess{Port: uint32(apf.PortWSMan)})
		devs[i] = d
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var k int
		if _, err := fmt.Sscanf(in.Text(), "keepalive %d", &k); err != nil {
			fail(err)
		}
		for r := range k {
			for _, d := range devs {
				if _, err := d.conn.Write(apf.Marshal(apf.KeepaliveRequest{Cookie: uint32(r)})); err != nil {
					fail(err)
				}
			}
			for _, d := range devs {
				expect(d, apf.KeepaliveReply{Cookie: uint32(r)})
			}
		}
		fmt.Println("done")
	}
	os.Exit(0)
}
