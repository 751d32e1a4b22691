package rps

import (
	"context"
	"crypto/subtle"
	"errors"
	"strings"

	"github.com/google/uuid"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/internal/store"
)

// Who may do what. Profile names are guessable (<tenant>_ccm), so naming a profile proves nothing: a device is
// activated only when Inventory holds a host with its UUID in that tenant whose desired AMT state is PROVISIONED,
// and only when no other tenant has recorded it. An already-activated device is touched only by a caller who knows
// a password we know for it, because rpc-go also relays AMT's answers and could fake them.

// callerTenant is the tenant named by a bearer token or by the message's tenantId ("" when neither is given).
func (o *op) callerTenant(ctx context.Context) (string, error) {
	what := o.cmd.Op
	switch what {
	case OpActivate:
		what = "activation"
	case OpDeactivate:
		what = "deactivation"
	}
	var fromToken string
	if o.token != "" && o.e.cfg.Tokens != nil {
		t, err := o.e.cfg.Tokens.TenantFromToken(ctx, o.token)
		if err != nil {
			return "", refuse("Device %s %s failed. The bearer token was rejected: %s", o.p.UUID, what, err.Error())
		}
		if fromToken, err = canonicalTenant(t); err != nil {
			return "", refuse("Device %s %s failed. The bearer token names tenant %q, which is not a tenant UUID.",
				o.p.UUID, what, t)
		}
	}
	msgTenant := ""
	if o.msgTen != "" {
		var err error
		if msgTenant, err = canonicalTenant(o.msgTen); err != nil {
			return "", refuse("Device %s %s failed. tenantId %q is not a tenant UUID.", o.p.UUID, what, o.msgTen)
		}
	}
	if fromToken != "" && msgTenant != "" && fromToken != msgTenant {
		return "", refuse("Device %s %s failed. tenantId %s is not the tenant of the bearer token (%s).",
			o.p.UUID, what, msgTenant, fromToken)
	}
	if fromToken != "" {
		return fromToken, nil
	}
	return msgTenant, nil
}

func canonicalTenant(s string) (string, error) {
	u, err := uuid.Parse(s)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// tenantFromProfile reads <tenant UUID>_ccm or _acm, the names dm-manager gives its profiles (EMF §3.7).
func tenantFromProfile(profile string) (string, bool) {
	i := strings.LastIndexByte(profile, '_')
	if i < 0 {
		return "", false
	}
	switch strings.ToLower(profile[i+1:]) {
	case "ccm", "acm":
	default:
		return "", false
	}
	t, err := canonicalTenant(profile[:i])
	return t, err == nil
}

// checkHost requires an Inventory host with the device's UUID in the tenant that wants AMT provisioned.
func (o *op) checkHost(ctx context.Context) error {
	h, err := o.e.cfg.Hosts.Get(ctx, o.tenant, o.p.UUID)
	o.res.known = err == nil
	switch {
	case errors.Is(err, ErrHostNotFound):
		return refuse("Device %s activation failed. No host with this UUID is registered in tenant %s; register the "+
			"host in Edge Infrastructure Manager before activating it.", o.p.UUID, o.tenant)
	case err != nil:
		return refuse("Device %s activation failed. The host could not be read from Inventory (%s); run the "+
			"activation again.", o.p.UUID, err.Error())
	case h.DesiredAMT != AMTStateProvisioned:
		return refuse("Device %s activation failed. Host %s does not ask for vPro/AMT activation (desired AMT state "+
			"%s); set it to PROVISIONED (enable vPro) first.", o.p.UUID, h.ResourceID, h.DesiredAMT)
	}
	o.host = h
	return nil
}

// checkOwner refuses a device another tenant has recorded.
func (o *op) checkOwner(ctx context.Context) error {
	d, err := o.e.cfg.Store.GetDevice(ctx, o.p.UUID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return refuse("Device %s: the device record could not be read (%s); run the operation again.",
			o.p.UUID, err.Error())
	case d.TenantID != o.tenant:
		return refuse("Device belongs to another tenant. Please unprovision and re-activate device.")
	}
	return nil
}

// knownPassword checks the password rpc-go sent for an activated device against the ones we know: the device's
// stored password and the tenant's AMT password, which the node agent is handed (§3.7) whatever the policy.
// It returns the password to authenticate to AMT with: the stored one when there is one, because the caller has
// proved to hold a password of this device's tenant and the stored one is what AMT has (after a dropped session,
// a rotation, or changepassword). Nothing stored: the supplied password is trusted, unless required (deactivation
// and maintenance without -f, as RPS).
func (o *op) knownPassword(ctx context.Context, stored deviceSecrets, found, required bool) (string, error) {
	mismatch := refuse("AMT password DOES NOT match stored version for Device %s", o.p.UUID)
	if !found || stored.AMTPassword == "" {
		if required {
			return "", mismatch
		}
		return o.p.Password, nil
	}
	if equal(o.p.Password, stored.AMTPassword) || stored.PreviousAMTPassword != "" && equal(o.p.Password, stored.PreviousAMTPassword) {
		return stored.AMTPassword, nil
	}
	if tp, err := o.tenantPassword(ctx); err == nil && equal(o.p.Password, tp) {
		return stored.AMTPassword, nil
	}
	return "", mismatch
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// adminPasswords are the passwords that may open an activated device, tried in order.
type adminPasswords []string

// activationPasswords are the passwords an activation of an activated device tries: the one knownPassword
// returns, then the one AMT had before a change whose session was lost (recorded with the new one before the
// change, adopt), because AMT may not have made it.
func (o *op) activationPasswords(ctx context.Context, stored deviceSecrets, found bool) (adminPasswords, error) {
	known, err := o.knownPassword(ctx, stored, found, false)
	if err != nil {
		return nil, err
	}
	if found && stored.PreviousAMTPassword != "" && !equal(stored.PreviousAMTPassword, known) {
		return adminPasswords{known, stored.PreviousAMTPassword}, nil
	}
	return adminPasswords{known}, nil
}

// connectAdmin opens the device as admin with the first of passwords AMT accepts and reads its digest realm; it
// returns the realm and the password that worked. failText names the operation in a failure to connect.
func (o *op) connectAdmin(ctx context.Context, passwords adminPasswords, failText string) (realm, current string, err error) {
	if err := o.connect("admin", passwords[0]); err != nil {
		return "", "", fail(failText, err)
	}
	for i, pw := range passwords {
		if i > 0 {
			o.log.Info().Msg("AMT refused the stored admin password; trying the one it had before the last change")
			o.ws.SetCredentials("admin", pw)
		}
		if realm, err = o.digestRealm(ctx); !errors.Is(err, wsman.ErrAuthFailed) {
			return realm, pw, err
		}
	}
	return "", "", err
}
