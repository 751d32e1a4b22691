package inventory_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	statusv1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/status/v1"

	"github.com/dmrm/dm-manager/internal/inventory"
	"github.com/dmrm/dm-manager/test/invtest"
)

const (
	inProgress = statusv1.StatusIndication_STATUS_INDICATION_IN_PROGRESS
	idle       = statusv1.StatusIndication_STATUS_INDICATION_IDLE
	errorInd   = statusv1.StatusIndication_STATUS_INDICATION_ERROR
)

func vproHost(t *testing.T, tenant string) *computev1.HostResource {
	t.Helper()
	return invtest.DAO(t).CreateHost(t, tenant, func(h *computev1.HostResource) {
		h.DesiredAmtState = computev1.AmtState_AMT_STATE_PROVISIONED
		h.DesiredPowerState = computev1.PowerState_POWER_STATE_OFF
		h.PowerCommandPolicy = computev1.PowerCommandPolicy_POWER_COMMAND_POLICY_ORDERED
	})
}

// TestStatusWriter: each writer sends only its own fields, leaves intent and the other triplet alone, and skips
// the write when Inventory already holds the values.
func TestStatusWriter(t *testing.T) {
	c := newClient(t)
	tenant := uuid.NewString()
	host := vproHost(t, tenant)
	id := host.GetResourceId()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	onTime := uint64(1700000000)
	// cur is the host as last read, what the host reconciler hands the ...Of writers.
	cur := host
	of := func(_ *computev1.HostResource, err error) error { return err }

	type step struct {
		name      string
		write     func() error
		wantWrite bool
		check     func(t *testing.T, h *computev1.HostResource)
	}
	steps := []step{
		{"power report", func() error {
			return of(c.UpdateStatusOf(ctx, tenant, cur, inventory.StatusReport{Power: &inventory.PowerReport{
				Current: computev1.PowerState_POWER_STATE_ON, Status: "Powering off", Indicator: inProgress, OnTime: &onTime}}))
		}, true, func(t *testing.T, h *computev1.HostResource) {
			require.Equal(t, computev1.PowerState_POWER_STATE_ON, h.GetCurrentPowerState())
			require.Equal(t, "Powering off", h.GetPowerStatus())
			require.Equal(t, inProgress, h.GetPowerStatusIndicator())
			require.NotZero(t, h.GetPowerStatusTimestamp())
			require.Equal(t, onTime, h.GetPowerOnTime())
			require.Equal(t, host.GetAmtStatus(), h.GetAmtStatus(), "power writes leave the AMT triplet alone")
			require.Equal(t, host.GetAmtStatusTimestamp(), h.GetAmtStatusTimestamp())
		}},
		{"same power report", func() error {
			return of(c.UpdateStatusOf(ctx, tenant, cur, inventory.StatusReport{Power: &inventory.PowerReport{
				Current: computev1.PowerState_POWER_STATE_ON, Status: "Powering off", Indicator: inProgress}}))
		}, false, nil},
		{"power done", func() error {
			return of(c.UpdateStatusOf(ctx, tenant, cur, inventory.StatusReport{Power: &inventory.PowerReport{
				Current: computev1.PowerState_POWER_STATE_OFF, Status: "Powered off", Indicator: idle}}))
		}, true, func(t *testing.T, h *computev1.HostResource) {
			require.Equal(t, computev1.PowerState_POWER_STATE_OFF, h.GetCurrentPowerState())
			require.Equal(t, "Powered off", h.GetPowerStatus())
			require.Equal(t, onTime, h.GetPowerOnTime(), "power_on_time untouched without OnTime")
		}},
		{"amt report", func() error {
			return of(c.UpdateStatusOf(ctx, tenant, cur, inventory.StatusReport{AMT: &inventory.AMTReport{
				Current: computev1.AmtState_AMT_STATE_PROVISIONED, Status: "AMT Activation Done", Indicator: idle}}))
		}, true, func(t *testing.T, h *computev1.HostResource) {
			require.Equal(t, computev1.AmtState_AMT_STATE_PROVISIONED, h.GetCurrentAmtState())
			require.Equal(t, "AMT Activation Done", h.GetAmtStatus())
			require.Equal(t, idle, h.GetAmtStatusIndicator())
			require.NotZero(t, h.GetAmtStatusTimestamp())
			require.Equal(t, "Powered off", h.GetPowerStatus(), "AMT writes leave the power triplet alone")
		}},
		{"same amt report", func() error {
			return of(c.UpdateStatusOf(ctx, tenant, cur, inventory.StatusReport{AMT: &inventory.AMTReport{
				Current: computev1.AmtState_AMT_STATE_PROVISIONED, Status: "AMT Activation Done", Indicator: idle}}))
		}, false, nil},
		{"amt status text only", func() error {
			return c.UpdateAMTStatusText(ctx, tenant, id, "AMT Activation Failed", errorInd)
		}, true, func(t *testing.T, h *computev1.HostResource) {
			require.Equal(t, computev1.AmtState_AMT_STATE_PROVISIONED, h.GetCurrentAmtState(), "state untouched")
			require.Equal(t, "AMT Activation Failed", h.GetAmtStatus())
			require.Equal(t, errorInd, h.GetAmtStatusIndicator())
		}},
		{"same amt status text", func() error {
			return c.UpdateAMTStatusText(ctx, tenant, id, "AMT Activation Failed", errorInd)
		}, false, nil},
		{"sku", func() error { return c.SetAmtSku(ctx, tenant, id, computev1.AmtSku_AMT_SKU_ISM) }, true,
			func(t *testing.T, h *computev1.HostResource) {
				require.Equal(t, computev1.AmtSku_AMT_SKU_ISM, h.GetAmtSku())
			}},
		{"same sku", func() error { return c.SetAmtSku(ctx, tenant, id, computev1.AmtSku_AMT_SKU_ISM) }, false, nil},
	}
	for _, s := range steps {
		before := c.Stats()
		require.NoError(t, s.write(), s.name)
		after := c.Stats()
		if s.wantWrite {
			require.Equal(t, before.Writes+1, after.Writes, "%s: exactly one Update", s.name)
		} else {
			require.Equal(t, before.Writes, after.Writes, "%s: no Update", s.name)
			require.Equal(t, before.Skipped+1, after.Skipped, s.name)
		}
		h, err := c.GetHost(ctx, tenant, id)
		require.NoError(t, err)
		// Intent is never touched by the RM.
		require.Equal(t, computev1.AmtState_AMT_STATE_PROVISIONED, h.GetDesiredAmtState(), s.name)
		require.Equal(t, computev1.PowerState_POWER_STATE_OFF, h.GetDesiredPowerState(), s.name)
		require.Equal(t, computev1.PowerCommandPolicy_POWER_COMMAND_POLICY_ORDERED, h.GetPowerCommandPolicy(), s.name)
		if s.check != nil {
			s.check(t, h)
		}
		cur = h
	}
}

func TestStatusWriterErrors(t *testing.T) {
	c := newClient(t)
	tenant := uuid.NewString()
	host := vproHost(t, tenant)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	tests := []struct {
		name, tenant, id string
	}{
		{"unknown host", tenant, "host-0badf00d"},
		{"other tenant's host", uuid.NewString(), host.GetResourceId()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := c.SetAmtSku(ctx, tc.tenant, tc.id, computev1.AmtSku_AMT_SKU_AMT)
			require.ErrorIs(t, err, inventory.ErrNotFound)
			require.Equal(t, codes.NotFound, status.Code(err))
			// A retried error would take the write retry time (10 s); the bound leaves room for a loaded CI machine.
			require.Less(t, time.Since(start), 5*time.Second, "NotFound is not retried")
		})
	}
}

func TestReads(t *testing.T) {
	c := newClient(t)
	tenant := uuid.NewString()
	createTenant(t, tenant)
	host := vproHost(t, tenant)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	got, err := c.GetHostByUUID(ctx, tenant, host.GetUuid())
	require.NoError(t, err)
	require.Equal(t, host.GetResourceId(), got.GetResourceId())

	_, err = c.GetHostByUUID(ctx, uuid.NewString(), host.GetUuid())
	require.ErrorIs(t, err, inventory.ErrNotFound, "a host is only visible in its own tenant")

	tn, err := c.GetTenant(ctx, tenant)
	require.NoError(t, err)
	require.Equal(t, tenant, tn.GetTenantId())
	_, err = c.GetTenant(ctx, uuid.NewString())
	require.True(t, errors.Is(err, inventory.ErrNotFound))

	all, err := c.ListTenants(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, all)
}

// TestStatusWriterOf: given the host as the caller read it, the writer compares with it and sends one Update (or
// nothing) without reading the host again, and returns the host as the write left it for the next comparison.
func TestStatusWriterOf(t *testing.T) {
	var gets atomic.Int64
	count := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker,
		opts ...grpc.CallOption) error {
		if strings.HasSuffix(method, "/GetResource") {
			gets.Add(1)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	c := newClient(t, grpc.WithChainUnaryInterceptor(count))
	tenant := uuid.NewString()
	host := vproHost(t, tenant)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := host.GetResourceId()
	on := inventory.PowerReport{Current: computev1.PowerState_POWER_STATE_ON, Status: "Powered on", Indicator: idle}
	amt := inventory.AMTReport{Current: computev1.AmtState_AMT_STATE_PROVISIONED, Status: "AMT connected", Indicator: idle}
	// An empty status with an unspecified indicator is written too: zero values are part of the triplet.
	blank := inventory.PowerReport{Current: computev1.PowerState_POWER_STATE_OFF}
	disconnected := inventory.AMTReport{Current: computev1.AmtState_AMT_STATE_DISCONNECTED, Status: "AMT disconnected",
		Indicator: errorInd}
	unknown := inventory.PowerReport{Current: computev1.PowerState_POWER_STATE_UNSPECIFIED, Status: "Power state unknown"}

	created := proto.Clone(host)
	cur := host
	for _, s := range []struct {
		name      string
		write     func(*computev1.HostResource) (*computev1.HostResource, error)
		wantWrite bool
	}{
		{"power", func(h *computev1.HostResource) (*computev1.HostResource, error) {
			return c.UpdateStatusOf(ctx, tenant, h, inventory.StatusReport{Power: &on})
		}, true},
		{"same power", func(h *computev1.HostResource) (*computev1.HostResource, error) {
			return c.UpdateStatusOf(ctx, tenant, h, inventory.StatusReport{Power: &on})
		}, false},
		{"amt", func(h *computev1.HostResource) (*computev1.HostResource, error) {
			return c.UpdateStatusOf(ctx, tenant, h, inventory.StatusReport{AMT: &amt})
		}, true},
		{"same amt", func(h *computev1.HostResource) (*computev1.HostResource, error) {
			return c.UpdateStatusOf(ctx, tenant, h, inventory.StatusReport{AMT: &amt})
		}, false},
		{"blank power", func(h *computev1.HostResource) (*computev1.HostResource, error) {
			return c.UpdateStatusOf(ctx, tenant, h, inventory.StatusReport{Power: &blank})
		}, true},
		{"same blank power", func(h *computev1.HostResource) (*computev1.HostResource, error) {
			return c.UpdateStatusOf(ctx, tenant, h, inventory.StatusReport{Power: &blank})
		}, false},
		// A connect changes both: one Update carries them.
		{"amt and power", func(h *computev1.HostResource) (*computev1.HostResource, error) {
			return c.UpdateStatusOf(ctx, tenant, h, inventory.StatusReport{AMT: &disconnected, Power: &unknown})
		}, true},
		{"same amt, new power", func(h *computev1.HostResource) (*computev1.HostResource, error) {
			return c.UpdateStatusOf(ctx, tenant, h, inventory.StatusReport{AMT: &disconnected, Power: &on})
		}, true},
		{"same amt and power", func(h *computev1.HostResource) (*computev1.HostResource, error) {
			return c.UpdateStatusOf(ctx, tenant, h, inventory.StatusReport{AMT: &disconnected, Power: &on})
		}, false},
	} {
		before, getsBefore := c.Stats(), gets.Load()
		next, err := s.write(cur)
		require.NoError(t, err, s.name)
		require.Equal(t, getsBefore, gets.Load(), "%s: no read", s.name)
		after := c.Stats()
		if s.wantWrite {
			require.Equal(t, before.Writes+1, after.Writes, "%s: exactly one Update", s.name)
		} else {
			require.Equal(t, before.Writes, after.Writes, "%s: no Update", s.name)
			require.Same(t, cur, next, s.name)
		}
		stored, err := c.GetHost(ctx, tenant, id)
		require.NoError(t, err)
		for _, f := range []func(*computev1.HostResource) any{
			func(h *computev1.HostResource) any { return h.GetCurrentPowerState() },
			func(h *computev1.HostResource) any { return h.GetPowerStatus() },
			func(h *computev1.HostResource) any { return h.GetPowerStatusIndicator() },
			func(h *computev1.HostResource) any { return h.GetPowerStatusTimestamp() },
			func(h *computev1.HostResource) any { return h.GetCurrentAmtState() },
			func(h *computev1.HostResource) any { return h.GetAmtStatus() },
			func(h *computev1.HostResource) any { return h.GetAmtStatusIndicator() },
			func(h *computev1.HostResource) any { return h.GetAmtStatusTimestamp() },
		} {
			require.Equal(t, f(stored), f(next), "%s: the returned host is what Inventory holds", s.name)
		}
		cur = next
	}
	require.Positive(t, gets.Load(), "the counter sees GetHost's reads")
	require.True(t, proto.Equal(created, host), "the caller's host is never modified")
}
