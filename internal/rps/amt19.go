package rps

import (
	"context"
	"errors"

	"github.com/dmrm/dm-manager/internal/domaincert"
	"github.com/dmrm/dm-manager/internal/store"
)

// statusTLSAlready is TLSConfiguration for a device that enforces TLS with its own certificate (§4.2).
const statusTLSAlready = "Already configured"

// provisionTLS activates a device that enforces TLS on its local ports (AMT 19+, "secure host-based
// configuration", §2.11), every exchange going through the TLS tunnel: Setup into client control mode, then
// CommitChanges, then a `port_switch` whose delay covers AMT's TLS rollover and the settle time after Setup. An ACM
// profile then upgrades the device with the domain's chain and UpgradeClientToAdmin; should that fail, AMT is
// unprovisioned and the device forgotten, so a failed ACM activation leaves neither a CCM device nor a record.
// As in provision, the record and the password are written before Setup.
func (o *op) provisionTLS(ctx context.Context, t store.Tenant, cert *domaincert.Cert, target deviceSecrets) error {
	acm := cert != nil
	hash, err := o.prepareSetup(ctx, t, &target, "Failed to initialize TLS tunnel")
	if err != nil {
		return err
	}
	err = o.oneShot(ctx, "setup", store.ControlModeCCM, func(ctx context.Context) error { return o.amt.Setup(ctx, hash) })
	if err != nil {
		return fail("Failed to activate in client control mode.", err)
	}
	o.res.mode, o.res.status.Status = modeName(store.ControlModeCCM), statusCCM
	o.log.Info().Str("mode", "ccm").Bool("acm_next", acm).Msg("AMT activated through the TLS tunnel")
	if err := o.saveDevice(ctx, &target, store.StateActivated, store.ControlModeCCM); err != nil {
		return err
	}
	o.ws.SetCredentials("admin", target.AMTPassword)
	if err := o.step(ctx, "commit_changes", func(ctx context.Context) error { return o.amt.CommitChanges(ctx) }); err != nil {
		return fail("Failed to commit the configuration after Setup (CommitChanges).", err)
	}
	if err := o.portSwitch(ctx, max(o.e.cfg.PostSetupDelay, o.e.cfg.TLSRolloverDelay, 0)); err != nil {
		return err
	}
	mode := store.ControlModeCCM
	if acm {
		if err := o.upgradeTLS(ctx, cert, &target); err != nil {
			return o.rollback(ctx, err)
		}
		mode = store.ControlModeACM
	}
	return o.configure(ctx, t, target, mode)
}

// upgradeTLS is the ACM phase of §2.11 step 9 over the tunnel.
func (o *op) upgradeTLS(ctx context.Context, cert *domaincert.Cert, target *deviceSecrets) error {
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
	o.res.mode, o.res.status.Status = modeName(store.ControlModeACM), statusACM
	o.log.Info().Msg("AMT upgraded to admin control mode through the TLS tunnel")
	return o.saveDevice(ctx, target, store.StateActivated, store.ControlModeACM)
}

// rollback unprovisions a device whose ACM phase failed after Setup and forgets it (RPS's rollback, §2.11).
// When rpc-go is gone AMT cannot be reached: the device stays in CCM with its record and password stored, and
// the next activation (CCM to ACM upgrade) completes it.
func (o *op) rollback(ctx context.Context, cause error) error {
	text := "TLS ACM setup failed for device " + o.p.UUID + ".ACM activation failed. (" + cause.Error() + ")"
	if err := sessionOver(ctx); err != nil {
		return err
	}
	if err := o.step(ctx, "unprovision", func(ctx context.Context) error { return o.amt.Unprovision(ctx) }); err != nil {
		return &failure{text: text + " Failed to deactivate device after ACM failure: " + explain(err) +
			"; the device stays in client control mode and the next activation upgrades it.", cause: err}
	}
	o.res.mode = ""
	if err := o.forget(ctx); err != nil {
		return err
	}
	return &failure{text: text + " The device was returned to pre-provisioning; fix the cause and activate again.",
		cause: cause}
}

// forget deletes the device's secrets and record.
func (o *op) forget(ctx context.Context) error {
	return o.step(ctx, "forget_device", func(ctx context.Context) error {
		path, err := o.devicePath()
		if err == nil {
			err = o.e.cfg.Secrets.Delete(ctx, path)
		}
		if err != nil {
			return fail("Failed to remove device from secret provider", err)
		}
		if err := o.e.cfg.Store.DeleteDevice(ctx, o.p.UUID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fail("Failed to remove the device record", err)
		}
		return nil
	})
}
