package chaos

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	inv_v1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/inventory/v1"

	"github.com/dmrm/dm-manager/internal/devices"
	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/hip/rig"
	"github.com/dmrm/dm-manager/test/load/creds"
	"github.com/dmrm/dm-manager/test/load/devrun"
)

const credSeed = "chaos-suite"

// host is one Inventory host and the amtsim device behind it.
type host struct {
	guid string
	dev  *amtsim.Device
	// want is the desired power state last written; from is the index in dev.PowerRequests() where the requests
	// for it start.
	mu   sync.Mutex
	want computev1.PowerState
	from int
	edge bool
}

// fleet is the tenant's hosts and devices.
type fleet struct {
	tenant string
	api    *rig.Rig
	hosts  []*host
	ctx    context.Context // the devices' runs; cancelled at cleanup
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newFleet creates a tenant (as EMF's tenant controller), waits for dm-manager to set it up, activates n amtsim
// devices with CIRA towards the gateway, imports them, creates their hosts (vPro enabled, desired ON) and brings
// their tunnels up.
func newFleet(tb testing.TB, s *stack, n int) *fleet {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	f := &fleet{tenant: uuid.NewString()}
	cfg := rig.Config{Address: s.invAddr, Tenant: f.tenant}
	tc, err := rig.Dial(cfg, rig.Client{Name: "chaos tenant controller", Kind: inv_v1.ClientKind_CLIENT_KIND_TENANT_CONTROLLER})
	require.NoError(tb, err)
	// Kept registered until the end: closing an Inventory client races with its heartbeat, which then exits the
	// process (the client library's log.Fatal).
	tb.Cleanup(tc.Close)
	_, err = tc.CreateTenant(ctx)
	require.NoError(tb, err)
	f.api, err = rig.Dial(cfg, rig.Client{Name: "chaos user (API)", Kind: inv_v1.ClientKind_CLIENT_KIND_API})
	require.NoError(tb, err)
	tb.Cleanup(func() { f.api.Close() })
	eventually(tb, 2*time.Minute, "tenant set up by dm-manager", func() (bool, string) {
		t, err := s.st.GetTenant(ctx, f.tenant)
		return err == nil && t.CIRARootCertDERB64 != "", fmt.Sprint(err)
	})

	fl, err := devrun.Provision(ctx, devrun.Options{N: n, GUIDSeed: uuid.NewString(), CredSeed: credSeed,
		Gateway: s.cira, GatewayName: gatewayName, RootCAPEM: s.rootCA, Parallel: 2, Log: zerolog.Nop()})
	require.NoError(tb, err)
	var csv strings.Builder
	csv.WriteString("guid,tenant,cira_username,cira_password,amt_password\n")
	for _, d := range fl.Devices() {
		g := strings.ToLower(d.GUID().String())
		c := creds.For(credSeed, g)
		fmt.Fprintf(&csv, "%s,%s,%s,%s,%s\n", g, f.tenant, c.CIRAUser, c.CIRAPassword, c.AMTPassword)
		f.hosts = append(f.hosts, &host{guid: g, dev: d, want: computev1.PowerState_POWER_STATE_ON})
	}
	rep, err := devices.NewImporter(s.st, s.sec, zerolog.Nop()).Import(ctx, strings.NewReader(csv.String()), devices.FormatCSV)
	require.NoError(tb, err, "import: %+v", rep.Errors)
	require.Equal(tb, n, rep.Created)

	for i, h := range f.hosts {
		nh := rig.NewHost(h.guid, fmt.Sprintf("chaos-%04d", i))
		nh.PowerCommandPolicy = computev1.PowerCommandPolicy_POWER_COMMAND_POLICY_IMMEDIATE
		_, err := f.api.CreateHost(ctx, nh)
		require.NoError(tb, err)
	}
	devCtx, stop := context.WithCancel(context.Background())
	f.ctx, f.cancel = devCtx, stop
	for _, h := range f.hosts {
		f.wg.Go(func() {
			_ = h.dev.RunCIRA(devCtx, amtsim.CIRAOptions{ServerAddr: s.cira, MinBackoff: 100 * time.Millisecond,
				MaxBackoff: time.Second, Log: zerolog.Nop()})
		})
	}
	tb.Cleanup(func() {
		stop()
		f.wg.Wait()
	})
	return f
}

// redial registers the suite's API client with Inventory again (after Inventory restarted).
func (f *fleet) redial(tb testing.TB, s *stack) {
	tb.Helper()
	f.api.Close()
	var err error
	f.api, err = rig.Dial(rig.Config{Address: s.invAddr, Tenant: f.tenant},
		rig.Client{Name: "chaos user (API)", Kind: inv_v1.ClientKind_CLIENT_KIND_API})
	require.NoError(tb, err)
}

// set writes the desired power state and policy of hosts, as a user does.
func (f *fleet) set(tb testing.TB, hs []*host, d computev1.PowerState, pol computev1.PowerCommandPolicy) {
	tb.Helper()
	require.NoError(tb, f.setAll(hs, d, pol))
}

// setAll is set for use outside the test's goroutine.
func (f *fleet) setAll(hs []*host, d computev1.PowerState, pol computev1.PowerCommandPolicy) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, h := range hs {
		h.mu.Lock()
		h.want, h.from, h.edge = d, len(h.dev.PowerRequests()), isEdge(d)
		h.mu.Unlock()
		if err := f.api.SetPower(ctx, h.guid, d, pol); err != nil {
			return err
		}
	}
	return nil
}

func isEdge(d computev1.PowerState) bool {
	return d == computev1.PowerState_POWER_STATE_RESET || d == computev1.PowerState_POWER_STATE_POWER_CYCLE ||
		d == computev1.PowerState_POWER_STATE_RESET_REPEAT
}

// edgeRequests counts the edge actions (5 power cycle, 10 reset, 14 soft reset) a host's device received since
// its desired state was last written.
func (h *host) edgeRequests() int {
	h.mu.Lock()
	from := h.from
	h.mu.Unlock()
	n := 0
	for _, v := range h.dev.PowerRequests()[from:] {
		if v == 5 || v == 10 || v == 14 {
			n++
		}
	}
	return n
}

// converged: Inventory reports the desired state, idle, and the device is in it. A done reset or power cycle
// leaves the host on: once its session was lost and came back, Inventory reports what AMT reads, ON.
func (h *host) converged(inv *computev1.HostResource) bool {
	h.mu.Lock()
	want := h.want
	h.mu.Unlock()
	cur := inv.GetCurrentPowerState()
	if isEdge(want) && cur == computev1.PowerState_POWER_STATE_ON {
		cur = want
	}
	if cur != want || inv.GetPowerStatusIndicator() != idleInd ||
		inv.GetCurrentAmtState() != computev1.AmtState_AMT_STATE_PROVISIONED {
		return false
	}
	ps := h.dev.State().PowerState
	switch want {
	case computev1.PowerState_POWER_STATE_OFF:
		return ps == amtsim.PowerOff
	case computev1.PowerState_POWER_STATE_SLEEP:
		return ps == amtsim.PowerSleep
	case computev1.PowerState_POWER_STATE_HIBERNATE:
		return ps == amtsim.PowerHibernate
	}
	return ps == amtsim.PowerOn
}

// waitConverged waits until every host converged, or the limit; it returns the hosts that did not (stuck).
func (f *fleet) waitConverged(tb testing.TB, hs []*host, limit time.Duration) (stuck []string) {
	tb.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(limit)
	for {
		all, err := f.api.Hosts(ctx)
		stuck = stuck[:0]
		if err != nil {
			stuck = append(stuck, fmt.Sprintf("hosts not readable from Inventory: %v", err))
		} else {
			byUUID := map[string]*computev1.HostResource{}
			for _, x := range all {
				byUUID[strings.ToLower(x.GetUuid())] = x
			}
			for _, h := range hs {
				if x := byUUID[h.guid]; x == nil || !h.converged(x) {
					stuck = append(stuck, fmt.Sprintf("%s want %s: %s", h.guid, h.want, rig.Describe(x)))
				}
			}
			if len(stuck) == 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return stuck
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func eventually(tb testing.TB, wait time.Duration, what string, cond func() (bool, string)) {
	tb.Helper()
	deadline := time.Now().Add(wait)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %s (last: %s)", what, wait, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
