// Package cluster runs dm-manager as a cluster, as Kubernetes would with replicaCount 3: three `dm-manager serve`
// processes on one Postgres database behind HAProxy (TCP mode for CIRA, round robin for REST and the activation
// websocket), the real Inventory server as a process, and a fleet of amtsim devices dialling HAProxy.
//
// Fleet size: DM_CLUSTER_DEVICES (default 60; the full run uses 300).
package cluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	inv_v1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/inventory/v1"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/devices"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/internal/store/storetest"
	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/hip/rig"
	"github.com/dmrm/dm-manager/test/load/creds"
	"github.com/dmrm/dm-manager/test/load/devrun"
)

const credSeed = "cluster"

func fleetSize(t *testing.T) int {
	if v := os.Getenv("DM_CLUSTER_DEVICES"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "DM_CLUSTER_DEVICES")
		return n
	}
	return 60
}

// cluster is the running system under test.
type cluster struct {
	replicas []*replicaProc
	apiLB    string
	st       *store.Store
	tenant   string
	api      *rig.Rig
	fleet    *devrun.Fleet
	guids    []string
}

func TestCluster(t *testing.T) {
	n := fleetSize(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute+time.Duration(n)*2*time.Second)
	defer cancel()
	began := time.Now()
	dir := workDir(t)
	dmBin, invBin := binaries(t)
	t.Logf("binaries built after %s", time.Since(began).Round(time.Millisecond))
	inventory := startInventory(ctx, t, dir, invBin)

	dsn, drop, err := storetest.CreateDatabase("dmm_cluster_test")
	require.NoError(t, err)
	t.Cleanup(func() { _ = drop() })
	key := randomKey()
	c := &cluster{}
	for i := range 3 {
		r := newReplica(t, i, dmBin, dir, dsn, key, inventory)
		r.start(ctx, t)
		t.Cleanup(func() { _ = r.p.stop(15 * time.Second) })
		c.replicas = append(c.replicas, r)
	}
	ciraLB, apiLB, _ := startHAProxy(ctx, t, dir, c.replicas)
	c.apiLB = apiLB
	t.Logf("Inventory, 3 replicas and HAProxy up after %s", time.Since(began).Round(time.Millisecond))

	c.st, err = store.Open(ctx, dsn, store.ConnectOptions{}, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(c.st.Close)
	sec, err := secrets.Open(ctx, secrets.Options{Backend: secrets.BackendEmbedded, Key: key}, c.st, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(sec.Close)

	c.tenant = uuid.NewString()
	tc, err := rig.Dial(rig.Config{Address: inventory, Tenant: c.tenant},
		rig.Client{Name: "cluster-tc", Kind: inv_v1.ClientKind_CLIENT_KIND_TENANT_CONTROLLER})
	require.NoError(t, err)
	defer tc.Close()
	_, err = tc.CreateTenant(ctx)
	require.NoError(t, err)
	c.api, err = rig.Dial(rig.Config{Address: inventory, Tenant: c.tenant},
		rig.Client{Name: "cluster-api", Kind: inv_v1.ClientKind_CLIENT_KIND_API})
	require.NoError(t, err)
	defer c.api.Close()
	poll(ctx, t, "tenant bootstrap", func() bool {
		tn, err := c.st.GetTenant(ctx, c.tenant)
		return err == nil && tn.CIRARootCertDERB64 != ""
	})

	ca, err := ciragw.LoadOrCreateCA(ctx, devices.NewCAStore(sec))
	require.NoError(t, err)
	c.fleet, err = devrun.Provision(ctx, devrun.Options{N: n, GUIDSeed: c.tenant, CredSeed: credSeed, Gateway: ciraLB,
		GatewayName: ciraName, RootCAPEM: ca.RootPEM(), MinBackoff: 200 * time.Millisecond, MaxBackoff: 2 * time.Second,
		Log: zerolog.Nop()})
	require.NoError(t, err)
	var csv strings.Builder
	csv.WriteString("guid,tenant,cira_username,cira_password,amt_password\n")
	for i, d := range c.fleet.Devices() {
		guid := d.GUID().String()
		c.guids = append(c.guids, guid)
		cr := creds.For(credSeed, guid)
		fmt.Fprintf(&csv, "%s,%s,%s,%s,%s\n", guid, c.tenant, cr.CIRAUser, cr.CIRAPassword, cr.AMTPassword)
		_, err := c.api.CreateHost(ctx, rig.NewHost(guid, fmt.Sprintf("cluster-%03d", i)))
		require.NoError(t, err)
	}
	rep, err := devices.NewImporter(c.st, sec, zerolog.Nop()).Import(ctx, strings.NewReader(csv.String()), devices.FormatCSV)
	require.NoError(t, err, "%+v", rep.Errors)

	devCtx, stopDevices := context.WithCancel(ctx)
	var devWG sync.WaitGroup
	devWG.Go(func() { c.fleet.Ramp(devCtx) })
	defer func() {
		stopDevices()
		devWG.Wait()
	}()
	ramp := time.Now()
	owners := c.waitConnected(ctx, t, nil)
	t.Logf("%d devices connected through HAProxy in %s: %v", n, time.Since(ramp).Round(time.Millisecond), owners)
	for _, r := range c.replicas {
		require.Positive(t, owners[r.id], "replica %s holds no device: HAProxy does not balance", r.id)
	}

	t.Run("REST reads on every replica", func(t *testing.T) { c.readAll(ctx, t, c.replicas) })
	t.Run("power changes converge", func(t *testing.T) {
		c.setPower(ctx, t, c.guids, computev1.PowerState_POWER_STATE_OFF)
		c.waitPower(ctx, t, c.guids, computev1.PowerState_POWER_STATE_OFF, c.convergeBudget())
	})
	t.Run("kill -9 during ORDERED resets", func(t *testing.T) { c.killDuringResets(ctx, t) })
	t.Run("rolling restart", func(t *testing.T) { c.rollingRestart(ctx, t) })
	// Last: the activated device joins the tenant but never connects, which the steps above do not expect.
	t.Run("two simultaneous activations of one device", func(t *testing.T) { c.activateTwice(ctx, t, sec) })
}

// waitConnected waits until every device is connected to a live replica (none in dead) and returns the owners.
func (c *cluster) waitConnected(ctx context.Context, t *testing.T, dead []string) map[string]int {
	t.Helper()
	var owners map[string]int
	poll(ctx, t, "every device connected to a live replica", func() bool {
		ds, err := c.st.ListDevicesByTenant(ctx, c.tenant)
		if err != nil {
			return false
		}
		owners = map[string]int{}
		for _, d := range ds {
			if d.ConnectionState != store.ConnectionConnected || slices.Contains(dead, d.OwnerReplica) {
				return false
			}
			owners[d.OwnerReplica]++
		}
		return len(ds) == len(c.guids)
	})
	return owners
}

// readAll sends a general-settings and a version read for every device to every given replica's API.
func (c *cluster) readAll(ctx context.Context, t *testing.T, rs []*replicaProc) {
	t.Helper()
	type job struct{ api, what, guid string }
	jobs := make(chan job)
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 20 * time.Second}
	for range 8 {
		wg.Go(func() {
			for j := range jobs {
				if err := get(ctx, client, j.api[strings.Index(j.api, "@")+1:], c.tenant, j.what, j.guid); err != nil {
					err = fmt.Errorf("%s: %w", j.api[:strings.Index(j.api, "@")], err)
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
				}
			}
		})
	}
	start := time.Now()
	for _, r := range rs {
		for _, g := range c.guids {
			for _, what := range []string{"generalSettings", "version"} {
				jobs <- job{r.id + "@" + hostPort(r.api), what, g}
			}
		}
	}
	close(jobs)
	wg.Wait()
	t.Logf("%d REST reads in %s", 2*len(rs)*len(c.guids), time.Since(start).Round(time.Millisecond))
	require.Empty(t, failures)
}

func get(ctx context.Context, client *http.Client, api, tenant, what, guid string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		fmt.Sprintf("http://%s/v1/projects/%s/dm/amt/%s/%s", api, tenant, what, guid), nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s via %s: %w", what, guid, api, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s via %s: %d %s", what, guid, api, resp.StatusCode, body)
	}
	return nil
}

func (c *cluster) setPower(ctx context.Context, t *testing.T, guids []string, want computev1.PowerState) {
	t.Helper()
	for _, g := range guids {
		require.NoError(t, c.api.SetPower(ctx, g, want, computev1.PowerCommandPolicy_POWER_COMMAND_POLICY_ORDERED))
	}
}

func (c *cluster) waitPower(ctx context.Context, t *testing.T, guids []string, want computev1.PowerState, within time.Duration) {
	t.Helper()
	start := time.Now()
	for _, g := range guids {
		_, err := c.api.WaitHost(ctx, g, "power "+want.String(), within-time.Since(start), func(h *computev1.HostResource) bool {
			return h.GetCurrentPowerState() == want
		})
		require.NoError(t, err)
	}
	t.Logf("%d hosts reached %s in %s", len(guids), want, time.Since(start).Round(time.Millisecond))
}

// convergeBudget bounds a fleet-wide power change: 60 s plus 0.5 s per device (300 hosts took 80-90 s on the
// shared 2-core machine the suite was written on).
func (c *cluster) convergeBudget() time.Duration {
	return 60*time.Second + time.Duration(len(c.guids))*500*time.Millisecond
}

// auditCounts counts a device's remote power-control audit records by event (1700 on … 1706 soft reset).
func auditCounts(t *testing.T, d *amtsim.Device) map[int]int {
	t.Helper()
	n := map[int]int{}
	for _, raw := range d.AuditRecords() {
		r, err := amt.DecodeAuditRecord(raw)
		require.NoError(t, err)
		if r.AppID == 17 {
			n[r.EventKey()]++
		}
	}
	return n
}

// workDir holds the processes' logs; it is kept (and named) when the test fails.
func workDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "dm-cluster-")
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs of Inventory, the replicas and HAProxy kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	return dir
}

// poll waits for a condition of other processes (rows, Inventory fields) that send this test no signal.
func poll(ctx context.Context, t testing.TB, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not reached: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}
