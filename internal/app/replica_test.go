package app_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	inv_testing "github.com/open-edge-platform/infra-core/inventory/v2/pkg/testing"

	"github.com/dmrm/dm-manager/internal/app"
	"github.com/dmrm/dm-manager/internal/config"
	"github.com/dmrm/dm-manager/internal/devices"
	"github.com/dmrm/dm-manager/internal/replica/replicatest"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/internal/store/storetest"
	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/invtest"
	"github.com/dmrm/dm-manager/test/load/creds"
	"github.com/dmrm/dm-manager/test/load/devrun"
)

const replicaSecret = "app-test-replica-secret-0123456789"

// startReplica runs one replica of a deployment sharing dsn and the secrets key, serving the replica API; extra
// flags are added (the replica API's mutual TLS).
func startReplica(t *testing.T, dsn, key, id string, extra ...string) *instance {
	t.Helper()
	lis, err := app.ListenLoopback()
	require.NoError(t, err)
	env := map[string]string{"DM_SECRETS_KEY": key, "DM_REPLICA_SECRET": replicaSecret}
	args := []string{"-databaseURL=" + dsn, "-inventoryAddress=" + invtest.Address, "-infraConfigPath=",
		"-ciraServerAddress=" + ciraServerAddress, "-activationURL=wss://localhost/activate", "-enableAuth=false",
		"-replicaID=" + id, "-replicaListenAddress=" + lis.Replica.Addr().String(),
		"-replicaAddress=" + lis.Replica.Addr().String(), "-statusChangeGracePeriod=1s", "-requestTimeout=10s",
		"-shutdownTimeout=20s"}
	args = append(args, extra...)
	cfg, err := config.Load(args, func(k string) string { return env[k] })
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	readyCh := make(chan app.Ready, 1)
	in := &instance{cancel: cancel, done: make(chan error, 1)}
	go func() {
		in.done <- app.Run(ctx, cfg, app.Options{
			InventoryDialOptions: invtest.DialOptions(), Listeners: lis,
			Log:     zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel).With().Str("replica", id).Logger(),
			OnReady: func(r app.Ready) { readyCh <- r },
		})
	}()
	select {
	case in.ready = <-readyCh:
	case err := <-in.done:
		cancel()
		t.Fatalf("replica %s ended before ready: %v", id, err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("replica %s not ready after 60s", id)
	}
	t.Cleanup(func() { in.stop(t) })
	in.st, err = store.Open(context.Background(), dsn, store.ConnectOptions{}, zerolog.Nop())
	require.NoError(t, err)
	in.sec, err = secrets.Open(context.Background(), secrets.Options{Backend: secrets.BackendEmbedded, Key: key},
		in.st, zerolog.Nop())
	require.NoError(t, err)
	return in
}

// TestTwoReplicas: two replicas on one database, each holding half of a fleet, the replica API behind mutual TLS
// (test/cluster runs it without). A REST read for any device sent to either replica answers 200 (forwarded to the
// owner when needed). A device that reconnects to the other replica
// while its old connection is black-holed is taken over: the old session is closed within 1 s and Inventory never
// shows the device disconnected.
func TestTwoReplicas(t *testing.T) {
	dao := invtest.DAO(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dsn, drop, err := storetest.CreateDatabase("dmm_app_replicas_test")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, drop()) })
	k := make([]byte, secrets.KeySize)
	_, _ = rand.Read(k)
	key := base64.StdEncoding.EncodeToString(k)
	cert, certKey, ca := replicatest.Files(t, t.TempDir())
	mtls := []string{"-replicaTLSCertFile=" + cert, "-replicaTLSKeyFile=" + certKey, "-replicaTLSCAFile=" + ca}
	a := startReplica(t, dsn, key, "replica-a", mtls...)
	b := startReplica(t, dsn, key, "replica-b", mtls...)

	tenantID := uuid.NewString()
	dao.CreateTenantWithOpts(t, tenantID, true, inv_testing.TenantDesiredStateCreated())
	requireBootstrapped(ctx, t, a, tenantID)

	const n = 6
	fleet, err := devrun.Provision(ctx, devrun.Options{N: n, GUIDSeed: tenantID, CredSeed: "replicas",
		Gateway: a.ready.CIRA, GatewayName: a.ready.GatewayNames[0], RootCAPEM: a.ready.GatewayRootCAPEM, Log: zerolog.Nop()})
	require.NoError(t, err)
	var csv strings.Builder
	csv.WriteString("guid,tenant,cira_username,cira_password,amt_password\n")
	hosts := map[string]string{}
	for _, d := range fleet.Devices() {
		guid := d.GUID().String()
		c := creds.For("replicas", guid)
		fmt.Fprintf(&csv, "%s,%s,%s,%s,%s\n", guid, tenantID, c.CIRAUser, c.CIRAPassword, c.AMTPassword)
		h := dao.CreateHostWithOpts(t, tenantID, true, func(h *computev1.HostResource) {
			h.Uuid = guid
			h.DesiredAmtState = computev1.AmtState_AMT_STATE_PROVISIONED
		})
		hosts[guid] = h.GetResourceId()
	}
	rep, err := devices.NewImporter(a.st, a.sec, zerolog.Nop()).Import(ctx, strings.NewReader(csv.String()), devices.FormatCSV)
	require.NoError(t, err, "%+v", rep.Errors)

	// Device 0 reaches A through a proxy that can black-hole the connection, as a dead NAT entry would.
	proxy := newBlackholeProxy(t, a.ready.CIRA)
	devCtx, stopDevices := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stopDevices()
		wg.Wait()
	}()
	owners := map[string]string{}
	for i, d := range fleet.Devices() {
		addr, owner := a.ready.CIRA, "replica-a"
		switch {
		case i == 0:
			addr = proxy.addr
		case i >= n/2:
			addr, owner = b.ready.CIRA, "replica-b"
		}
		owners[d.GUID().String()] = owner
		wg.Go(func() {
			_ = d.RunCIRA(devCtx, amtsim.CIRAOptions{ServerAddr: addr, MinBackoff: 50 * time.Millisecond,
				MaxBackoff: time.Second, Log: zerolog.Nop()})
		})
	}
	for guid, owner := range owners {
		poll(ctx, t, "device "+guid+" connected to "+owner, func() bool {
			d, err := a.st.GetDevice(ctx, guid)
			return err == nil && d.ConnectionState == store.ConnectionConnected && d.OwnerReplica == owner
		})
	}
	for guid := range owners {
		for _, in := range []*instance{a, b} {
			requireAPIVersion(t, in.ready.API, tenantID, guid)
			requireAPIOK(t, in.ready.API, tenantID, "generalSettings", guid)
		}
	}

	// Takeover: device 0's link to A goes silent; the device dials B.
	moved := fleet.Devices()[0]
	guid := moved.GUID().String()
	requireHost(ctx, t, dao, tenantID, hosts[guid], func(h *computev1.HostResource) bool {
		return h.GetCurrentAmtState() == computev1.AmtState_AMT_STATE_PROVISIONED
	})
	proxy.blackhole()
	linkUp := make(chan time.Time, 4)
	wg.Go(func() {
		_ = moved.RunCIRA(devCtx, amtsim.CIRAOptions{ServerAddr: b.ready.CIRA, MinBackoff: 50 * time.Millisecond,
			MaxBackoff: time.Second, Log: zerolog.Nop(), OnLink: func(up bool) {
				if up {
					linkUp <- time.Now()
				}
			}})
	})
	upAt := <-linkUp
	select {
	case closedAt := <-proxy.upstreamClosed:
		took := closedAt.Sub(upAt)
		t.Logf("takeover: A closed its old session %s after the device connected to B", took.Round(time.Millisecond))
		require.Less(t, took, time.Second)
	case <-time.After(5 * time.Second):
		t.Fatal("A did not close the taken-over session within 5s")
	}
	d, err := a.st.GetDevice(ctx, guid)
	require.NoError(t, err)
	require.Equal(t, "replica-b", d.OwnerReplica)
	require.Equal(t, store.ConnectionConnected, d.ConnectionState)
	// Past A's disconnect grace (1s): Inventory still shows the device connected, never DISCONNECTED.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := dao.GetAPIClient().Get(ctx, tenantID, hosts[guid])
		require.NoError(t, err)
		require.Equal(t, computev1.AmtState_AMT_STATE_PROVISIONED, resp.GetResource().GetHost().GetCurrentAmtState(),
			resp.GetResource().GetHost().GetAmtStatus())
		time.Sleep(100 * time.Millisecond)
	}
	for _, in := range []*instance{a, b} {
		requireAPIVersion(t, in.ready.API, tenantID, guid)
	}
}

func requireAPIOK(t *testing.T, apiAddr, tenantID, what, guid string) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 15 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://%s/v1/projects/%s/dm/amt/%s/%s", apiAddr, tenantID, what, guid))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s via %s: %s", what, apiAddr, body)
}

// blackholeProxy relays TCP to target until blackhole(): from then on bytes are dropped both ways and neither
// side is closed by the proxy, as when a NAT entry dies. upstreamClosed reports when the target side hung up.
type blackholeProxy struct {
	addr           string
	target         string
	holed          atomic.Bool
	upstreamClosed chan time.Time
}

func newBlackholeProxy(t *testing.T, target string) *blackholeProxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &blackholeProxy{addr: lis.Addr().String(), target: target, upstreamClosed: make(chan time.Time, 16)}
	var conns sync.WaitGroup
	t.Cleanup(func() {
		_ = lis.Close()
		conns.Wait()
	})
	go func() {
		var all []net.Conn
		defer func() {
			for _, c := range all {
				_ = c.Close()
			}
		}()
		for {
			down, err := lis.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = down.Close()
				continue
			}
			all = append(all, down, up)
			conns.Add(2)
			go func() { defer conns.Done(); p.pipe(up, down, false) }()
			go func() { defer conns.Done(); p.pipe(down, up, true) }()
		}
	}()
	return p
}

func (p *blackholeProxy) blackhole() { p.holed.Store(true) }

// pipe copies from src to dst until src ends; fromUpstream marks the target's side.
func (p *blackholeProxy) pipe(dst, src net.Conn, fromUpstream bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.holed.Load() {
			_, _ = dst.Write(buf[:n])
		}
		if err != nil {
			if fromUpstream && p.holed.Load() {
				p.upstreamClosed <- time.Now()
				return // the device side stays open: it never hears of it
			}
			_ = dst.Close()
			return
		}
	}
}
