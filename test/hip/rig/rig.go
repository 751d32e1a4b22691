package rig

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	inv_v1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/inventory/v1"
	"github.com/open-edge-platform/infra-core/inventory/v2/pkg/client"

	"github.com/dmrm/dm-manager/internal/inventory/heartbeat"
)

// pollEvery bounds a wait when no event arrives: Inventory's events are best effort (emf-conventions §1.2).
const pollEvery = time.Second

// Rig is one Inventory client acting for a tenant.
type Rig struct {
	Inv    client.TenantAwareInventoryClient
	Tenant string

	wg     sync.WaitGroup
	cancel context.CancelFunc

	mu   sync.Mutex
	wake chan struct{} // closed at the next Inventory event
}

// Client says how the rig registers with Inventory.
type Client struct {
	Name string
	Kind inv_v1.ClientKind
	// DialOptions are added to the client's (the local stack dials the in-process server over bufconn).
	DialOptions []grpc.DialOption
	// OnHost, if set, sees every host event (created, updated, deleted) of any tenant; it must not block.
	OnHost func(*computev1.HostResource)
}

// Dial registers a client with Inventory. Hosts are watched (except for the tenant controller), so waits wake on
// dm-manager's writes.
func Dial(cfg Config, c Client) (*Rig, error) {
	if err := heartbeat.Check(); err != nil {
		return nil, err
	}
	events := make(chan *client.WatchEvents, 256)
	sec := &client.SecurityConfig{Insecure: true}
	if cfg.CACert != "" {
		sec = &client.SecurityConfig{CaPath: cfg.CACert, CertPath: cfg.TLSCert, KeyPath: cfg.TLSKey}
	}
	opts := append([]grpc.DialOption(nil), c.DialOptions...)
	if cfg.Token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{token: cfg.Token, tls: cfg.CACert != ""}))
	}
	r := &Rig{Tenant: cfg.Tenant, wake: make(chan struct{})}
	cctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	var kinds []inv_v1.ResourceKind
	if c.Kind != inv_v1.ClientKind_CLIENT_KIND_TENANT_CONTROLLER {
		kinds = []inv_v1.ResourceKind{inv_v1.ResourceKind_RESOURCE_KIND_HOST}
	}
	inv, err := client.NewTenantAwareInventoryClient(cctx, client.InventoryClientConfig{
		Name: c.Name, Address: cfg.Address, DialOptions: opts, SecurityCfg: sec, Events: events,
		ClientKind: c.Kind, ResourceKinds: kinds, Wg: &r.wg,
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("register with Inventory at %s as %s: %w (check %s and the TLS/JWT settings)",
			cfg.Address, c.Kind, err, EnvInventoryAddress)
	}
	r.Inv = inv
	r.wg.Go(func() {
		for ev := range events {
			if h := ev.Event.GetResource().GetHost(); h != nil && c.OnHost != nil {
				c.OnHost(h)
			}
			r.mu.Lock()
			close(r.wake)
			r.wake = make(chan struct{})
			r.mu.Unlock()
		}
	})
	return r, nil
}

// Close unregisters the client.
func (r *Rig) Close() {
	_ = r.Inv.Close()
	r.cancel()
	r.wg.Wait()
}

// changed returns a channel closed at the next Inventory event.
func (r *Rig) changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.wake
}

// Host reads a host by UUID.
func (r *Rig) Host(ctx context.Context, uuid string) (*computev1.HostResource, error) {
	h, err := r.Inv.GetHostByUUID(ctx, r.Tenant, uuid)
	if err != nil {
		return nil, fmt.Errorf("host %s in tenant %s: %w", uuid, r.Tenant, err)
	}
	return h, nil
}

// SetPower sets desired_power_state and power_command_policy, as the EIM API does for a user.
func (r *Rig) SetPower(ctx context.Context, uuid string, want computev1.PowerState, policy computev1.PowerCommandPolicy) error {
	return r.update(ctx, uuid, &computev1.HostResource{DesiredPowerState: want, PowerCommandPolicy: policy},
		computev1.HostResourceFieldDesiredPowerState, computev1.HostResourceFieldPowerCommandPolicy)
}

// SetAMT sets desired_amt_state ("enable vPro" is PROVISIONED).
func (r *Rig) SetAMT(ctx context.Context, uuid string, want computev1.AmtState) error {
	return r.update(ctx, uuid, &computev1.HostResource{DesiredAmtState: want}, computev1.HostResourceFieldDesiredAmtState)
}

// update writes a fresh HostResource holding only the given fields (emf-conventions §1.4).
func (r *Rig) update(ctx context.Context, uuid string, h *computev1.HostResource, paths ...string) error {
	cur, err := r.Host(ctx, uuid)
	if err != nil {
		return err
	}
	mask, err := fieldmaskpb.New(h, paths...)
	if err != nil {
		return fmt.Errorf("field mask %v: %w", paths, err)
	}
	_, err = r.Inv.Update(ctx, r.Tenant, cur.GetResourceId(), mask, &inv_v1.Resource{Resource: &inv_v1.Resource_Host{Host: h}})
	if err != nil {
		return fmt.Errorf("update %s of host %s: %w", strings.Join(paths, ", "), uuid, err)
	}
	return nil
}

// WaitHost waits until cond holds for the host, waking on Inventory events and at least every second. On timeout
// the error shows what the host reported last.
func (r *Rig) WaitHost(ctx context.Context, uuid, what string, timeout time.Duration, cond func(*computev1.HostResource) bool,
) (*computev1.HostResource, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last *computev1.HostResource
	var lastErr error
	for {
		wake := r.changed()
		h, err := r.Host(ctx, uuid)
		switch {
		case err == nil:
			last, lastErr = h, nil
			if cond(h) {
				return h, nil
			}
		case ctx.Err() == nil:
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return last, fmt.Errorf("host %s: %s not reached within %s; last error: %w", uuid, what, timeout, lastErr)
			}
			return last, fmt.Errorf("host %s: %s not reached within %s; host reports %s", uuid, what, timeout, Describe(last))
		case <-wake:
		case <-time.After(pollEvery):
		}
	}
}

// Describe is a one-line view of a host's DM fields.
func Describe(h *computev1.HostResource) string {
	if h == nil {
		return "nothing (not read)"
	}
	return fmt.Sprintf("power desired %s current %s (%s, %q), AMT desired %s current %s (%s, %q)",
		short(h.GetDesiredPowerState().String()), short(h.GetCurrentPowerState().String()),
		short(h.GetPowerStatusIndicator().String()), h.GetPowerStatus(),
		short(h.GetDesiredAmtState().String()), short(h.GetCurrentAmtState().String()),
		short(h.GetAmtStatusIndicator().String()), h.GetAmtStatus())
}

// short drops an enum's type prefix: POWER_STATE_ON -> ON, STATUS_INDICATION_IDLE -> IDLE.
func short(s string) string {
	for _, p := range []string{"POWER_STATE_", "AMT_STATE_", "STATUS_INDICATION_", "POWER_COMMAND_POLICY_"} {
		if rest, ok := strings.CutPrefix(s, p); ok {
			return rest
		}
	}
	return s
}

// Short is short for callers printing enums.
func Short(s fmt.Stringer) string { return short(s.String()) }

// bearer sends the rig's token on every Inventory call.
type bearer struct {
	token string
	tls   bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity is false only so that a rig can reach Inventory through a local port-forward.
func (b bearer) RequireTransportSecurity() bool { return b.tls }

var _ credentials.PerRPCCredentials = bearer{}
