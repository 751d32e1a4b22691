package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/api"
	"github.com/dmrm/dm-manager/internal/auth"
	"github.com/dmrm/dm-manager/internal/devices"
	"github.com/dmrm/dm-manager/internal/inventory"
	"github.com/dmrm/dm-manager/internal/metrics"
	"github.com/dmrm/dm-manager/internal/rps"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/southbound"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/reconcilers/host"
	"github.com/dmrm/dm-manager/reconcilers/tenant"
)

// Adapters between parts whose interfaces no owner package can implement without importing the other side.
var (
	_ southbound.Domains   = storeDomains{}
	_ southbound.Passwords = activationPasswords{}
	_ rps.HostLookup       = rpsHosts{}
	_ rps.TokenTenant      = agentTokens{}
	_ rps.Outcomes         = activationOutcomes{}
	_ api.DeviceAMT        = deviceAMT{}
)

// storeDomains answers the southbound server's "has this tenant uploaded a domain certificate" (ACM default).
type storeDomains struct{ st *store.Store }

func (d storeDomains) HasDomain(ctx context.Context, tenantID string) (bool, error) {
	ds, err := d.st.ListDomains(ctx, tenantID)
	if err != nil {
		return false, fmt.Errorf("listing domains of tenant %s: %w", tenantID, err)
	}
	return len(ds) > 0, nil
}

// activationPasswords is the AMT password the node agent hands to rpc-go, by the tenant's password policy as the
// tenant reconciler recorded it (the activation engine reads the same record): static, the tenant's password;
// dynamic, the device's stored password, or for a device not activated yet any strong password, since the
// engine gives such a device a fresh random one of its own (protocol-rps-activation §2.2).
type activationPasswords struct {
	st  *store.Store
	sec secrets.Store
}

func (p activationPasswords) ActivationPassword(ctx context.Context, tenantID, guid string) (string, error) {
	t, err := p.st.GetTenant(ctx, tenantID)
	if err != nil {
		return "", fmt.Errorf("tenant %s is not set up by the tenant reconciler yet: %w", tenantID, err)
	}
	if t.PasswordPolicy == tenant.PolicyDynamic {
		return p.devicePassword(ctx, tenantID, guid)
	}
	path, err := secrets.TenantAMTPassword(tenantID)
	if err != nil {
		return "", err
	}
	m, err := p.sec.Get(ctx, path)
	if err != nil {
		return "", fmt.Errorf("reading the AMT password of tenant %s: %w", tenantID, err)
	}
	return m[secrets.KeyPassword], nil
}

func (p activationPasswords) devicePassword(ctx context.Context, tenantID, guid string) (string, error) {
	path, err := secrets.Device(tenantID, guid)
	if err != nil {
		return "", err
	}
	m, err := p.sec.Get(ctx, path)
	switch {
	case err == nil && m[secrets.KeyAMTPassword] != "":
		return m[secrets.KeyAMTPassword], nil
	case err != nil && !errors.Is(err, secrets.ErrNotFound):
		return "", fmt.Errorf("reading the AMT password of device %s: %w", guid, err)
	}
	return amt.RandomPassword()
}

// rpsHosts reads the Inventory host the activation engine checks before it touches a device.
type rpsHosts struct{ inv *inventory.Client }

func (h rpsHosts) Get(ctx context.Context, tenantID, uuid string) (rps.Host, error) {
	hr, err := h.inv.GetHostByUUID(ctx, tenantID, uuid)
	if errors.Is(err, inventory.ErrNotFound) {
		return rps.Host{}, fmt.Errorf("%w: %w", rps.ErrHostNotFound, err)
	}
	if err != nil {
		return rps.Host{}, err
	}
	return rps.Host{
		ResourceID:     hr.GetResourceId(),
		DesiredAMT:     rps.AMTState(hr.GetDesiredAmtState().String()),
		CurrentAMT:     rps.AMTState(hr.GetCurrentAmtState().String()),
		AmtControlMode: hr.GetAmtControlMode().String(),
		AmtDNSSuffix:   hr.GetAmtDnsSuffix(),
	}, nil
}

// agentTokens gives the tenant of a node agent's token sent on the activation websocket upgrade.
type agentTokens struct{ v *auth.Verifier }

func (t agentTokens) TenantFromToken(ctx context.Context, token string) (string, error) {
	c, err := t.v.Verify(ctx, token)
	if err != nil {
		return "", err
	}
	return auth.TenantFromRoles(c.Roles, auth.RoleENAgentRW)
}

// activationOutcomes: after an activation or deactivation session the device's credentials and CIRA
// configuration may have changed, so cached clients and logins are dropped and the host reconciler looks again
// (it reports the AMT state once the device is seen on the gateway).
type activationOutcomes struct {
	hosts    *host.Reconciler
	clients  *devices.AMTClients
	ciraAuth *devices.Authenticator
	events   *activationEvents
	log      zerolog.Logger
}

// Started implements rps.Starts: the operation's tenant is known and nothing was changed yet.
func (o activationOutcomes) Started(s rps.Outcome) { o.events.start(s.Tenant, s.GUID, s.Op, s.At) }

func (o activationOutcomes) Notify(out rps.Outcome) {
	d := o.events.ended(out.Tenant, out.GUID, out.Op, out.Mode, out.Message, out.OK, out.At)
	metrics.ObserveActivation(out.Op, map[bool]string{true: "ok", false: "failed"}[out.OK], d)
	if !out.Known {
		return // the device is neither ours nor reached: no host to look at (and no Inventory lookup spent)
	}
	o.clients.Forget(out.GUID)
	o.ciraAuth.Forget(out.GUID)
	o.hosts.Enqueue(out.Tenant, out.GUID)
	o.log.Debug().Str("tenant", out.Tenant).Str("guid", out.GUID).Str("op", out.Op).Bool("ok", out.OK).
		Msg("activation session ended; host reconcile requested")
}

// deviceAMT reads live AMT data for the REST API through the device's CIRA session.
type deviceAMT struct{ clients *devices.AMTClients }

func (d deviceAMT) GeneralSettings(ctx context.Context, tenantID, guid string) (amt.GeneralSettings, error) {
	return withClient(ctx, d, tenantID, guid, (*amt.Client).GeneralSettings)
}

func (d deviceAMT) Version(ctx context.Context, tenantID, guid string) (amt.Version, error) {
	return withClient(ctx, d, tenantID, guid, (*amt.Client).Version)
}

func (d deviceAMT) Hardware(ctx context.Context, tenantID, guid string) (amt.Hardware, error) {
	return withClient(ctx, d, tenantID, guid, (*amt.Client).Hardware)
}

func (d deviceAMT) ReadAuditLog(ctx context.Context, tenantID, guid string, startIndex int) (amt.AuditLogPage, error) {
	return withClient(ctx, d, tenantID, guid, func(c *amt.Client, ctx context.Context) (amt.AuditLogPage, error) {
		return c.ReadAuditLog(ctx, startIndex)
	})
}

func (d deviceAMT) BootCapabilities(ctx context.Context, tenantID, guid string) (amt.BootCapabilities, error) {
	return withClient(ctx, d, tenantID, guid, (*amt.Client).BootCapabilities)
}

// withClient runs one AMT read; "no CIRA session" from the lookup or from the call, including a session that ended
// before AMT answered (harmless for a read), becomes api.ErrNotConnected.
func withClient[T any](ctx context.Context, d deviceAMT, tenantID, guid string,
	call func(*amt.Client, context.Context) (T, error),
) (T, error) {
	var zero T
	c, err := d.clients.For(ctx, tenantID, guid)
	if err != nil {
		return zero, notConnected(err)
	}
	v, err := call(c, ctx)
	return v, notConnected(err)
}

func notConnected(err error) error {
	if devices.NoSession(err) || errors.Is(err, devices.ErrNotFound) {
		return fmt.Errorf("%w: %w", api.ErrNotConnected, err)
	}
	return err
}
