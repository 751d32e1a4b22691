package rps

import (
	"context"
	"errors"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/domaincert"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
)

// Success status texts (§4.2; ACM from mode 0 as RPS 2.24, which EMF deploys).
const (
	statusCCM         = "Client control mode."
	statusACM         = "Admin control mode."
	statusUpgraded    = "Upgraded to admin control mode."
	statusCCMAlready  = "already enabled in client mode."
	statusACMAlready  = "already enabled in admin mode."
	ciraConfiguredTxt = "Configured"
)

// activate is `activate --profile X` (§2.1 pre-flight, then §2.3, §2.4 or §2.5 by current mode and profile).
func (o *op) activate(ctx context.Context) error {
	p := o.p
	if err := checkFirmware(p, "activation"); err != nil {
		return err
	}
	if p.Password == "" {
		return refuse("Device %s activation failed. Missing password.", p.UUID)
	}
	t, prof, err := o.activationTarget(ctx)
	if err != nil {
		return err
	}
	o.prof = prof
	acm := prof.Activation == store.ActivationACM
	switch {
	case p.CurrentMode == 2 && !acm:
		return refuse("Device %s already enabled in admin control mode.", p.UUID)
	case p.CurrentMode < 0 || p.CurrentMode > 2:
		return refuse("Device %s activation failed. It is in unknown mode.", p.UUID)
	}
	if err := o.checkHost(ctx); err != nil {
		return err
	}
	if err := o.checkOwner(ctx); err != nil {
		return err
	}
	stored, found, err := o.readDeviceSecrets(ctx)
	if errors.Is(err, secrets.ErrUnavailable) {
		return err // answered in general words; the address and path go to the log
	}
	if err != nil {
		return refuse("Device %s activation failed. %s; run the activation again.", p.UUID, err.Error())
	}
	auth := adminPasswords{stored: p.Password}
	if p.CurrentMode != 0 {
		if auth, err = o.knownPasswords(ctx, stored, found, false); err != nil {
			return err
		}
	}
	var cert *domaincert.Cert
	if acm && p.CurrentMode != 2 {
		if cert, err = o.provisioningCert(ctx); err != nil {
			return err
		}
	}
	target, err := o.targetSecrets(ctx, t, stored)
	if err != nil {
		return err
	}
	if !acm {
		target.MEBxPassword = "" // CCM has no MEBx password to set (§2.3)
	}
	switch {
	case p.CurrentMode == 0 && p.tunnel():
		return o.provisionTLS(ctx, t, cert, target)
	case p.CurrentMode == 0:
		return o.provision(ctx, t, cert, target)
	case acm && p.CurrentMode == 1:
		return o.upgrade(ctx, t, cert, auth, target)
	default:
		return o.reconfigure(ctx, t, acm, auth, target)
	}
}

// activationTarget resolves the tenant (token, tenantId, or the profile name when the agent sends none) and
// reads the tenant and the profile.
func (o *op) activationTarget(ctx context.Context) (store.Tenant, store.Profile, error) {
	p, name := o.p, o.cmd.Profile
	unknown := refuse("Device %s activation failed. %s does not match list of available AMT profiles.", p.UUID, name)
	if name == "" {
		return store.Tenant{}, store.Profile{}, refuse("Device %s activation failed. No profile given (activate "+
			"--profile <name>).", p.UUID)
	}
	tenant, err := o.callerTenant(ctx)
	if err != nil {
		return store.Tenant{}, store.Profile{}, err
	}
	if tenant == "" {
		var ok bool
		if tenant, ok = tenantFromProfile(name); !ok {
			return store.Tenant{}, store.Profile{}, unknown
		}
	}
	o.setTenant(tenant)
	prof, err := o.e.cfg.Store.GetProfile(ctx, tenant, name)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalid):
		return store.Tenant{}, store.Profile{}, unknown
	case err != nil:
		return store.Tenant{}, store.Profile{}, refuse("Failed to get amt profile from database (%s)", err.Error())
	}
	t, err := o.e.cfg.Store.GetTenant(ctx, tenant)
	if err != nil {
		return store.Tenant{}, store.Profile{}, refuse("Device %s activation failed. Tenant %s is not set up in "+
			"dm-manager (%s); run the activation again once the tenant is set up.", p.UUID, tenant, err.Error())
	}
	return t, prof, nil
}

// prepareSetup connects with the pre-provisioning credentials, then writes the device's secrets and its record,
// before anything changes on AMT, and returns the admin password hash Setup/AdminSetup take. The secrets are
// created if absent (createDeviceSecrets), so target may come back with another session's generated values.
// connectText is the failure text rpc-go shows when the first exchange fails.
func (o *op) prepareSetup(ctx context.Context, t store.Tenant, target *deviceSecrets, connectText string) (string, error) {
	if err := o.connect(o.p.Username, adminPasswords{stored: o.p.Password}); err != nil {
		return "", fail(connectText, err)
	}
	realm, err := o.digestRealm(ctx)
	if err != nil {
		return "", err
	}
	// The secrets first: the record carries the CIRA username they end with.
	if err := o.createDeviceSecrets(ctx, t.PasswordPolicy != "dynamic", target); err != nil {
		return "", err
	}
	if err := o.saveDevice(ctx, target, store.StateActivating, store.ControlModePre); err != nil {
		return "", err
	}
	return amt.AdminPasswordHash(realm, target.AMTPassword), nil
}

// provision activates a device in pre-provisioning (§2.3 CCM, §2.4 ACM). The device record and its secrets are
// written before Setup/AdminSetup, so whatever happens to the websocket afterwards the next run finds the password
// AMT was given.
func (o *op) provision(ctx context.Context, t store.Tenant, cert *domaincert.Cert, target deviceSecrets) error {
	acm := cert != nil
	hash, err := o.prepareSetup(ctx, t, &target, "Failed to activate.")
	if err != nil {
		return err
	}
	mode, status := store.ControlModeCCM, statusCCM
	if acm {
		mode, status = store.ControlModeACM, statusACM
		mc, sig, _, err := o.signedNonce(ctx, cert)
		if err != nil {
			return err
		}
		if err := o.sendChain(ctx, cert); err != nil {
			return err
		}
		err = o.oneShot(ctx, "admin_setup", mode, func(ctx context.Context) error {
			return o.amt.AdminSetup(ctx, amt.AdminSetupRequest{PasswordHash: hash, McNonce: mc, Signature: sig})
		})
		if err != nil {
			return fail("Failed to activate in admin control mode.", err)
		}
	} else {
		err := o.oneShot(ctx, "setup", mode, func(ctx context.Context) error { return o.amt.Setup(ctx, hash) })
		if err != nil {
			return fail("Failed to activate in client control mode.", err)
		}
	}
	o.res.mode, o.res.status.Status = modeName(mode), status
	o.log.Info().Str("mode", modeName(mode)).Msg("AMT activated")
	if err := o.saveDevice(ctx, &target, store.StateActivated, mode); err != nil {
		return err
	}
	if err := o.settle(ctx); err != nil {
		return err
	}
	o.ws.SetCredentials("admin", target.AMTPassword)
	return o.configure(ctx, t, target, mode)
}

// upgrade moves a CCM device to ACM with UpgradeClientToAdmin (§2.5 step 4), then reconfigures it.
func (o *op) upgrade(ctx context.Context, t store.Tenant, cert *domaincert.Cert, auth adminPasswords, target deviceSecrets) error {
	realm, current, err := o.connectAdmin(ctx, auth, "Failed to upgrade to admin control mode.")
	if err != nil {
		return err
	}
	o.res.mode = modeName(store.ControlModeCCM)
	mc, sig, _, err := o.signedNonce(ctx, cert)
	if err != nil {
		return err
	}
	if err := o.sendChain(ctx, cert); err != nil {
		return err
	}
	err = o.oneShot(ctx, "upgrade", store.ControlModeACM, func(ctx context.Context) error {
		return o.amt.UpgradeClientToAdmin(ctx, mc, sig)
	})
	if err != nil {
		return fail("Failed to upgrade to admin control mode.", err)
	}
	o.res.mode, o.res.status.Status = modeName(store.ControlModeACM), statusUpgraded
	o.log.Info().Msg("AMT upgraded to admin control mode")
	return o.adopt(ctx, t, realm, current, target, store.ControlModeACM)
}

// reconfigure re-applies passwords and CIRA to a device already in the profile's mode (§2.5 step 5).
func (o *op) reconfigure(ctx context.Context, t store.Tenant, acm bool, auth adminPasswords, target deviceSecrets) error {
	mode, status := store.ControlModeCCM, statusCCMAlready
	if acm {
		mode, status = store.ControlModeACM, statusACMAlready
	}
	o.res.mode, o.res.status.Status = modeName(mode), status
	realm, current, err := o.connectAdmin(ctx, auth, "Failed to reconfigure.")
	if err != nil {
		return err
	}
	return o.adopt(ctx, t, realm, current, target, mode)
}

// adopt sets the policy password on an activated device (CHANGE_AMT_PASSWORD, §2.5), then records the device and
// its secrets and configures it. Before the change the new password is recorded with the one AMT has now, and
// after it alone: a session or replica lost in between leaves both stored, and the next activation opens the
// device with whichever AMT has (knownPasswords).
func (o *op) adopt(ctx context.Context, t store.Tenant, realm, current string, target deviceSecrets, mode store.ControlMode) error {
	if !equal(current, target.AMTPassword) {
		changing := target
		changing.PreviousAMTPassword = current
		if err := o.writeDeviceSecrets(ctx, changing); err != nil {
			return err
		}
		err := o.step(ctx, "change_password", func(ctx context.Context) error {
			return o.amt.SetAdminAclEntryEx(ctx, "admin", amt.AdminDigestPassword(realm, target.AMTPassword))
		})
		if err != nil {
			return fail("Failed to change the AMT admin password.", err)
		}
		o.ws.SetCredentials("admin", target.AMTPassword)
	}
	if err := o.saveDevice(ctx, &target, store.StateActivated, mode); err != nil {
		return err
	}
	if err := o.writeDeviceSecrets(ctx, target); err != nil {
		return err
	}
	return o.configure(ctx, t, target, mode)
}

// configure sets the MEBx password (ACM), the network, the features and CIRA (§2.4 step 9, §2.6–§2.9). Network and
// feature failures only show in the status and the log, as with RPS. Unlike RPS a CIRA failure ends in `error`:
// without CIRA dm-manager cannot manage the device, and the next run (reconfigure) repairs it.
func (o *op) configure(ctx context.Context, t store.Tenant, target deviceSecrets, mode store.ControlMode) error {
	if mode == store.ControlModeACM {
		err := o.step(ctx, "set_mebx", func(ctx context.Context) error {
			return o.amt.SetMEBxPassword(ctx, target.MEBxPassword)
		})
		if err != nil {
			return fail("Failed to set the MEBx password.", err)
		}
	}
	o.res.status.Network = o.configureNetwork(ctx)
	if msg := o.configureFeatures(ctx, mode); msg != "" {
		o.log.Warn().Str("features", msg).Msg("redirection or user consent not configured")
	}
	if err := sessionOver(ctx); err != nil {
		return err
	}
	o.res.status.TLSConfiguration = "unconfigured"
	if o.p.tunnel() {
		// AMT 19+ runs RPS's TLS machine after provisioning (§2.11 step 6) when the profile has a TLS mode; legacy
		// devices never do, as RPS refuses a TLS mode next to a CIRA configuration (§2.10) and EMF's profiles all
		// have one.
		o.res.status.TLSConfiguration = statusTLSAlready
		if o.prof.TLSMode != store.TLSModeNone {
			if err := o.configureTLS(ctx, target); err != nil {
				o.res.status.TLSConfiguration = "Failed"
				return err
			}
		}
	}
	if err := o.configureCIRA(ctx, t, target); err != nil {
		o.res.status.CIRAConnection = err.Error()
		return &failure{text: o.res.status.Status + " CIRA configuration failed: " + err.Error(), cause: err}
	}
	o.res.status.CIRAConnection = ciraConfiguredTxt
	return nil
}

// settle waits PostSetupDelay after activation before the admin account is used (§2.3 step 5), with heartbeats.
func (o *op) settle(ctx context.Context) error { return o.s.pause(ctx, o.e.cfg.PostSetupDelay) }
