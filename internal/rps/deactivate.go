package rps

import (
	"context"
	"errors"

	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
)

const statusDeactivated = "Deactivated"

// deviceTenant resolves the tenant of an operation on an activated device: the caller's (token or tenantId), which
// must be the one that recorded the device, else the recorded one. It returns whether a record exists.
func (o *op) deviceTenant(ctx context.Context) (bool, error) {
	caller, err := o.callerTenant(ctx)
	if err != nil {
		return false, err
	}
	d, err := o.e.cfg.Store.GetDevice(ctx, o.p.UUID)
	found := err == nil
	o.res.known = found
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return false, refuse("Device %s: the device record could not be read (%s); run the operation again.",
			o.p.UUID, err.Error())
	case caller != "" && d.TenantID != caller:
		return false, refuse("Device belongs to another tenant. Please unprovision and re-activate device.")
	}
	switch {
	case caller != "":
		o.setTenant(caller)
	case found:
		o.setTenant(d.TenantID)
	}
	return found, nil
}

// authorizeActivated runs the checks shared by deactivation and maintenance: a tenant that may touch the device
// and a password we know for it (§2.12, §2.13). Without -f a stored password is required, as RPS; with -f a device
// we hold nothing for may still be reached with the password AMT itself checks, but a stored one must match.
func (o *op) authorizeActivated(ctx context.Context) (auth adminPasswords, stored deviceSecrets, err error) {
	if o.p.Password == "" {
		return auth, stored, refuse("AMT password DOES NOT match stored version for Device %s", o.p.UUID)
	}
	recorded, err := o.deviceTenant(ctx)
	if err != nil {
		return auth, stored, err
	}
	found := false
	if o.tenant != "" {
		if stored, found, err = o.readDeviceSecrets(ctx); errors.Is(err, secrets.ErrUnavailable) {
			return auth, stored, err // answered in general words; the address and path go to the log
		} else if err != nil {
			return auth, stored, refuse("Device %s: %s; run the operation again.", o.p.UUID, err.Error())
		}
	}
	auth, err = o.knownPasswords(ctx, stored, found, !o.cmd.Force)
	if err == nil && !found && recorded {
		o.log.Warn().Msg("device recorded without stored secrets; using the supplied password")
	}
	return auth, stored, err
}

// deactivate is `deactivate --password <pw> [-f]` (§2.12): Unprovision(1) for CCM and ACM alike, then the device
// and its secrets are forgotten.
func (o *op) deactivate(ctx context.Context) error {
	p := o.p
	switch p.CurrentMode {
	case 0:
		return refuse("Device %s is in pre-provisioning mode.", p.UUID)
	case 1, 2:
	default:
		return refuse("Device %s deactivation failed. It is in unknown mode: %d.", p.UUID, p.CurrentMode)
	}
	if err := checkFirmware(p, "deactivation"); err != nil {
		return err
	}
	auth, _, err := o.authorizeActivated(ctx)
	if err != nil {
		return err
	}
	o.res.mode = modeName(reportedMode(p.CurrentMode))
	if err := o.connect("admin", auth); err != nil {
		return fail("Failed to deactivate.", err)
	}
	if err := o.step(ctx, "unprovision", func(ctx context.Context) error { return o.amt.Unprovision(ctx) }); err != nil {
		return fail("Failed to deactivate.", err)
	}
	o.res.mode, o.res.status.Status = "", statusDeactivated
	o.log.Info().Msg("AMT deactivated")
	if o.tenant == "" {
		return nil
	}
	return o.step(ctx, "forget_device", func(ctx context.Context) error {
		path, err := o.devicePath()
		if err == nil {
			err = o.e.cfg.Secrets.Delete(ctx, path)
		}
		if err != nil {
			return fail("Deactivated. Failed to remove device from secret provider", err)
		}
		if err := o.e.cfg.Store.DeleteDevice(ctx, p.UUID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fail("Deactivated. Failed to remove the device record", err)
		}
		return nil
	})
}
