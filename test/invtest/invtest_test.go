package invtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	inv_v1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/inventory/v1"
	"github.com/open-edge-platform/infra-core/inventory/v2/pkg/client"
	inv_util "github.com/open-edge-platform/infra-core/inventory/v2/pkg/util"

	"github.com/dmrm/dm-manager/test/invtest"
)

func TestMain(m *testing.M) { invtest.Main(m) }

// updateHost writes the given fields the EMF way (emf-conventions §1.4): a fresh HostResource holding only them,
// a field mask over exactly those paths, the message filtered by the mask.
func updateHost(ctx context.Context, c client.TenantAwareInventoryClient, tenant, id string,
	h *computev1.HostResource, paths ...string,
) error {
	mask, err := fieldmaskpb.New(proto.Clone(h), paths...)
	if err != nil {
		return err
	}
	if err := inv_util.ValidateMaskAndFilterMessage(h, mask, true); err != nil {
		return err
	}
	_, err = c.Update(ctx, tenant, id, mask, &inv_v1.Resource{Resource: &inv_v1.Resource_Host{Host: h}})
	return err
}

// TestPolicyIsLive proves the OPA policy bundle is loaded: who may write which DM power field.
func TestPolicyIsLive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tenant := uuid.NewString()
	host := invtest.DAO(t).CreateHost(t, tenant) // API client; desired_power_state ON
	require.Equal(t, computev1.PowerState_POWER_STATE_ON, host.GetDesiredPowerState())

	current := (*computev1.HostResource).GetCurrentPowerState
	desired := (*computev1.HostResource).GetDesiredPowerState
	tests := []struct {
		name    string
		client  client.TenantAwareInventoryClient
		path    string
		field   func(*computev1.HostResource) computev1.PowerState
		update  *computev1.HostResource
		allowed bool
	}{
		{"RM writes current_power_state", invtest.RMClient(t), computev1.HostResourceFieldCurrentPowerState, current,
			&computev1.HostResource{CurrentPowerState: computev1.PowerState_POWER_STATE_OFF}, true},
		{"RM writes desired_power_state", invtest.RMClient(t), computev1.HostResourceFieldDesiredPowerState, desired,
			&computev1.HostResource{DesiredPowerState: computev1.PowerState_POWER_STATE_RESET}, false},
		{"API writes current_power_state", invtest.APIClient(t), computev1.HostResourceFieldCurrentPowerState, current,
			&computev1.HostResource{CurrentPowerState: computev1.PowerState_POWER_STATE_SLEEP}, false},
		{"API writes desired_power_state", invtest.APIClient(t), computev1.HostResourceFieldDesiredPowerState, desired,
			&computev1.HostResource{DesiredPowerState: computev1.PowerState_POWER_STATE_OFF}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.field(tt.update)
			before := getHost(ctx, t, tenant, host.GetResourceId())
			err := updateHost(ctx, tt.client, tenant, host.GetResourceId(), tt.update, tt.path)
			after := getHost(ctx, t, tenant, host.GetResourceId())
			if !tt.allowed {
				require.Equal(t, codes.PermissionDenied, status.Code(err), "error: %v", err)
				require.Equal(t, tt.field(before), tt.field(after), "a denied write changes nothing")
				return
			}
			require.NoError(t, err)
			require.Equal(t, want, tt.field(after), "read back")
		})
	}
}

func getHost(ctx context.Context, t *testing.T, tenant, id string) *computev1.HostResource {
	t.Helper()
	res, err := invtest.RMClient(t).Get(ctx, tenant, id)
	require.NoError(t, err)
	return res.GetResource().GetHost()
}

// TestNewClientReceivesEvents shows a client of the test's own gets events for writes made by other clients.
func TestNewClientReceivesEvents(t *testing.T) {
	_, events := invtest.NewClient(t, "TestOwnRM", inv_v1.ClientKind_CLIENT_KIND_RESOURCE_MANAGER,
		inv_v1.ResourceKind_RESOURCE_KIND_HOST)
	host := invtest.DAO(t).CreateHost(t, client.FakeTenantID)
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Event.GetResourceId() == host.GetResourceId() {
				require.Equal(t, inv_v1.SubscribeEventsResponse_EVENT_KIND_CREATED, ev.Event.GetEventKind())
				require.Equal(t, client.FakeTenantID, ev.Event.GetResource().GetHost().GetTenantId())
				return
			}
		case <-timeout:
			t.Fatal("no CREATED event for the new host within 10s")
		}
	}
}
