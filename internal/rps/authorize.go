package rps

import (
	"context"
	"crypto/subtle"
	"errors"
	"strings"

	"github.com/google/uuid"

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

// adminPasswords are the passwords that may open an activated device: the stored one, and while a change of it is
// under way (recorded with the new one before AMT is asked: adopt, changePassword) the one AMT had before, because
// AMT may not have made the change. The WS-Man client tries the second when AMT refuses the first
// (wsman.Config.FallbackPassword).
type adminPasswords struct{ stored, previous string }

// knownPasswords checks the password rpc-go sent for an activated device against the ones we know: the device's
// stored passwords and the tenant's AMT password, which the node agent is handed (§3.7) whatever the policy.
// It returns the passwords to authenticate to AMT with: the stored ones when there are, because the caller has
// proved to hold a password of this device's tenant and the stored one is what AMT has (after a dropped session,
// a rotation, or changepassword). Nothing stored: the supplied password is trusted, unless required (deactivation
// and maintenance without -f, as RPS).
func (o *op) knownPasswords(ctx context.Context, stored deviceSecrets, found, required bool) (adminPasswords, error) {
	mismatch := refuse("AMT password DOES NOT match stored version for Device %s", o.p.UUID)
	if !found || stored.AMTPassword == "" {
		if required {
			return adminPasswords{}, mismatch
		}
		return adminPasswords{stored: o.p.Password}, nil
	}
	known := adminPasswords{stored: stored.AMTPassword}
	if stored.PreviousAMTPassword != "" && !equal(stored.PreviousAMTPassword, stored.AMTPassword) {
		known.previous = stored.PreviousAMTPassword
	}
	if equal(o.p.Password, stored.AMTPassword) || known.previous != "" && equal(o.p.Password, known.previous) {
		return known, nil
	}
	if tp, err := o.tenantPassword(ctx); err == nil && equal(o.p.Password, tp) {
		return known, nil
	}
	return adminPasswords{}, mismatch
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// connectAdmin opens the device as admin with the passwords and reads its digest realm; it returns the realm and
// the password AMT accepted. failText names the operation in a failure to connect.
func (o *op) connectAdmin(ctx context.Context, passwords adminPasswords, failText string) (realm, current string, err error) {
	if err := o.connect("admin", passwords); err != nil {
		return "", "", fail(failText, err)
	}
	if realm, err = o.digestRealm(ctx); err != nil {
		return "", "", err
	}
	current = o.ws.CurrentPassword()
	if !equal(current, passwords.stored) {
		o.log.Info().Msg("AMT has the admin password from before the last change, which did not finish; using it")
	}
	return realm, current, nil
}
