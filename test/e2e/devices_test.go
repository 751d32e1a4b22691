package e2e

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

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/devices"
	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/load/creds"
	"github.com/dmrm/dm-manager/test/load/devrun"
)

// credSeed derives the imported devices' AMT and CIRA credentials (test/load/creds).
const credSeed = "dm-manager-e2e"

// simDevice is a simulated AMT device with its CIRA link state.
type simDevice struct {
	*amtsim.Device
	guid string

	mu   sync.Mutex
	up   bool
	wake chan struct{}
}

func newSimDevice(dev *amtsim.Device) *simDevice {
	return &simDevice{Device: dev, guid: dev.GUID().String(), wake: make(chan struct{})}
}

func (s *simDevice) onLink(up bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.up = up
	close(s.wake)
	s.wake = make(chan struct{})
}

// waitLink waits for the device's CIRA tunnel to be up (or down).
func (s *simDevice) waitLink(tb testing.TB, up bool) {
	tb.Helper()
	deadline := time.NewTimer(waitLong)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		now, wake := s.up, s.wake
		s.mu.Unlock()
		if now == up {
			return
		}
		select {
		case <-wake:
		case <-deadline.C:
			tb.Fatalf("device %s: CIRA link up=%v not reached within %s", s.guid, up, waitLong)
		}
	}
}

// waitState waits (within waitLong) for the device's own state to satisfy cond and returns it.
func (s *simDevice) waitState(tb testing.TB, what string, cond func(amtsim.State) bool) amtsim.State {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	st, err := s.WaitFor(ctx, cond)
	require.NoError(tb, err, "device %s: %s", s.guid, what)
	return st
}

func poweredOff(s amtsim.State) bool { return s.PowerState == amtsim.PowerOff }

func runningOS(s amtsim.State) bool { return s.PowerState == amtsim.PowerOn && s.OSRunning }

// provisioned creates n devices activated elsewhere in CCM with CIRA configured to the gateway (as HIP rigs and
// migrated fleets arrive), and imports them with their credentials into tenant, the way an operator does
// (`dm-manager devices import`). Their tunnels are not started.
func (d *dm) provisioned(tb testing.TB, tenant string, n int) []*simDevice {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	fleet, err := devrun.Provision(ctx, devrun.Options{
		N: n, GUIDSeed: uuid.NewString(), CredSeed: credSeed, Gateway: d.ready.CIRA,
		GatewayName: d.ready.GatewayNames[0], RootCAPEM: d.ready.GatewayRootCAPEM, Parallel: 4, Log: zerolog.Nop(),
	})
	require.NoError(tb, err)
	var csv strings.Builder
	csv.WriteString("guid,tenant,cira_username,cira_password,amt_password\n")
	out := make([]*simDevice, 0, n)
	for _, dev := range fleet.Devices() {
		sd := newSimDevice(dev)
		c := creds.For(credSeed, sd.guid)
		secretSeen("imported AMT password", c.AMTPassword)
		secretSeen("imported CIRA password", c.CIRAPassword)
		fmt.Fprintf(&csv, "%s,%s,%s,%s,%s\n", sd.guid, tenant, c.CIRAUser, c.CIRAPassword, c.AMTPassword)
		out = append(out, sd)
	}
	rep, err := devices.NewImporter(d.st, d.sec, zerolog.Nop()).Import(ctx, strings.NewReader(csv.String()), devices.FormatCSV)
	require.NoError(tb, err, "import: %+v", rep.Errors)
	require.Equal(tb, n, rep.Created)
	return out
}

// connect runs the device's CIRA client against the gateway's bound port until the test's devices stop.
func (d *dm) connect(s *simDevice) {
	d.goDevice(func(ctx context.Context) {
		_ = s.RunCIRA(ctx, amtsim.CIRAOptions{
			ServerAddr: d.addrs.cira, MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
			OnLink: s.onLink, Log: zerolog.Nop(),
		})
	})
}

// AMT audit events of remote power control (protocol-cira-wsman §10.6: application 17, "RCO"), as EventKey.
const (
	auditPowerOn      = 1700
	auditPowerOff     = 1701
	auditPowerCycle   = 1702
	auditReset        = 1703
	auditSoftOff      = 1705
	auditSoftReset    = 1706
	auditAppRemoteOps = 17
)

// powerRequests counts the power requests the device accepted, from its own audit log.
func powerRequests(tb testing.TB, dev *simDevice) map[int]int {
	tb.Helper()
	n, err := auditCounts(dev)
	require.NoError(tb, err)
	return n
}

// auditCounts counts the device's remote power control audit records by event.
func auditCounts(dev *simDevice) (map[int]int, error) {
	n := map[int]int{}
	for _, raw := range dev.AuditRecords() {
		r, err := amt.DecodeAuditRecord(raw)
		if err != nil {
			return nil, err
		}
		if r.AppID == auditAppRemoteOps {
			n[r.EventKey()]++
		}
	}
	return n, nil
}
