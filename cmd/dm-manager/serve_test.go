package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	inv_testing "github.com/open-edge-platform/infra-core/inventory/v2/pkg/testing"

	"github.com/dmrm/dm-manager/internal/app"
	"github.com/dmrm/dm-manager/internal/store/storetest"
	"github.com/dmrm/dm-manager/internal/testlog"
	"github.com/dmrm/dm-manager/test/invtest"
)

func TestMain(m *testing.M) { invtest.Main(m) }

// instance is one dm-manager started in-process against the in-process Inventory.
type instance struct {
	cancel context.CancelFunc
	code   chan int
	bound  app.Ready
	logs   *testlog.Buffer
}

func startInstance(t *testing.T, dsn string, h hooks) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan app.Ready, 1)
	h.OnReady = func(b app.Ready) { ready <- b }
	h.InventoryDialOptions = append(invtest.DialOptions(), h.InventoryDialOptions...)
	in := &instance{cancel: cancel, code: make(chan int, 1), logs: &testlog.Buffer{}}
	args := append(localArgs(t), "-databaseURL="+dsn, "-inventoryAddress="+invtest.Address,
		"-enableMetrics", "-globalLogLevel=debug")
	go func() { in.code <- dispatch(ctx, args, io.Discard, in.logs, h) }()
	select {
	case in.bound = <-ready:
	case code := <-in.code:
		cancel()
		t.Fatalf("dm-manager exited with %d before ready:\n%s", code, in.logs)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("dm-manager not ready after 60s:\n%s", in.logs)
	}
	return in
}

func (in *instance) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case code := <-in.code:
		return code
	case <-time.After(30 * time.Second):
		t.Fatalf("dm-manager did not stop within 30s:\n%s", in.logs)
		return -1
	}
}

// localArgs are the flags every in-process start needs: a secrets key, loopback listeners on free ports, the
// advertised addresses and no token checks.
func localArgs(t *testing.T) []string {
	t.Helper()
	return []string{keyFileArg(t),
		"-dmServerAddress=127.0.0.1:0", "-ciraAddress=127.0.0.1:0", "-activationAddress=127.0.0.1:0",
		"-apiAddress=127.0.0.1:0", "-metricsAddress=127.0.0.1:0", "-oamServerAddress=127.0.0.1:0",
		"-ciraServerAddress=localhost:4433", "-activationURL=wss://localhost/activate", "-enableAuth=false"}
}

func testDatabase(t *testing.T) string {
	t.Helper()
	dsn, drop, err := storetest.CreateDatabase("dmm_cmd_test")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, drop()) })
	return dsn
}

func TestStartStop(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dsn := testDatabase(t)

	for round := 1; round <= 2; round++ { // the second start finds the migrations applied
		start := time.Now()
		in := startInstance(t, dsn, hooks{})
		t.Logf("round %d: ready after %s", round, time.Since(start))
		requireServing(t, in.bound.OAM)
		requireMetrics(t, in.bound.Metrics)

		stop := time.Now()
		in.cancel()
		require.Equal(t, 0, in.exitCode(t), in.logs.String())
		t.Logf("round %d: stopped in %s", round, time.Since(stop))
		require.Contains(t, in.logs.String(), "registered with Inventory")
		if round == 1 {
			require.Contains(t, in.logs.String(), "applied database migration")
		} else {
			require.NotContains(t, in.logs.String(), "applied database migration")
		}
	}
	require.Equal(t, embeddedMigrations(t), appliedMigrations(t, dsn))
}

func TestEventStreamClosedExitsNonZero(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dsn := testDatabase(t)

	// Keep the connection to Inventory so the test can cut it, ending the events stream.
	conns := make(chan net.Conn, 8)
	dialer := grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := inv_testing.BufconnLis.DialContext(ctx)
		if err == nil {
			conns <- c
		}
		return c, err
	})
	in := startInstance(t, dsn, hooks{InventoryDialOptions: []grpc.DialOption{dialer}})
	// Inventory's client v2.34.5 clears its client UUID under a lock when the stream ends but reads it without one
	// in List, so cutting the stream during the first resync's listing is a data race inside the library (seen
	// under -race in CI). Cut it once that listing is done, which is what this test is about anyway.
	require.Eventually(t, func() bool { return strings.Contains(in.logs.String(), "resync listed") },
		30*time.Second, 10*time.Millisecond, "no resync listed:\n%s", in.logs)
	require.NoError(t, (<-conns).Close())
	require.Equal(t, 1, in.exitCode(t))
	in.cancel()
	require.Contains(t, in.logs.String(), "event stream closed by Inventory")
}

func TestStartFailures(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"port taken", []string{"-ciraAddress=" + busy.Addr().String()}, 1,
			"-ciraAddress " + busy.Addr().String() + ": address already in use"},
		{"no CIRA server address", []string{"-ciraServerAddress="}, 2, "-ciraServerAddress: required"},
		{"no activation URL", []string{"-activationURL="}, 2, "-activationURL: required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append(localArgs(t), "-infraConfigPath=", "-databaseURL=postgres://admin:pass@127.0.0.1:1/dmm")
			code, _, stderr := runCapture(t, append(args, tc.args...)...)
			require.Equal(t, tc.wantCode, code, stderr)
			require.Contains(t, stderr, tc.wantErr)
		})
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

func requireMetrics(t *testing.T, addr string) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "go_goroutines")
}

func embeddedMigrations(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob("../../internal/store/migrations/*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return len(files)
}

func appliedMigrations(t *testing.T, dsn string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var n int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n))
	return n
}
