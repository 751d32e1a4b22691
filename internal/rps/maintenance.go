package rps

import (
	"context"
	"fmt"
	"unicode"

	"github.com/dmrm/dm-manager/dmtclient/amt"
)

// maintenance is `maintenance … --<task>` (§2.13); changepassword is supported, the other tasks are refused.
func (o *op) maintenance(ctx context.Context) error {
	p, task := o.p, o.cmd.Task
	if task == "" {
		return refuse("%s - missing maintenance task in message", o.s.clientID)
	}
	if p.CurrentMode <= 0 {
		return refuse("Device %s is in pre-provisioning mode.", p.UUID)
	}
	if task != "changepassword" {
		return refuse("%s failed: the maintenance task is not supported by dm-manager", task)
	}
	auth, stored, err := o.authorizeActivated(ctx)
	if err != nil {
		return err
	}
	o.res.mode = modeName(reportedMode(p.CurrentMode))
	return o.changePassword(ctx, auth, stored)
}

// changePassword sets the new admin password (taskArg, or a random one) with SetAdminAclEntryEx, whose ReturnValue
// must be 0, and stores it (§2.13).
func (o *op) changePassword(ctx context.Context, auth string, stored deviceSecrets) error {
	const failed = "changepassword failed"
	newPassword := o.cmd.TaskArg
	if newPassword == "" {
		var err error
		if newPassword, err = amt.RandomPassword(); err != nil {
			return fail(failed, err)
		}
	} else if !strongPassword(newPassword) {
		return refuse("%s: the new password must be 8 to 32 characters with a digit, a lower-case letter, an "+
			"upper-case letter and one of !@#$%%^&*", failed)
	}
	if err := o.connect("admin", auth); err != nil {
		return fail(failed, err)
	}
	realm, err := o.digestRealm(ctx)
	if err != nil {
		return &failure{text: failed + " (" + err.Error() + ")", cause: err}
	}
	err = o.step(ctx, "change_password", func(ctx context.Context) error {
		return o.amt.SetAdminAclEntryEx(ctx, "admin", amt.AdminDigestPassword(realm, newPassword))
	})
	if err != nil {
		return fail(failed, err)
	}
	o.res.status.Status = "changepassword completed succesfully" // sic, the reference text (§2.13)
	if o.tenant == "" {
		return nil
	}
	stored.AMTPassword = newPassword
	if err := o.writeDeviceSecrets(ctx, stored); err != nil {
		return fmt.Errorf("%s: the new password is set on AMT but was not stored: %w", failed, err)
	}
	return nil
}

// strongPassword is the AMT password rule (§2.2): 8–32 printable ASCII characters with a digit, a lower-case and
// an upper-case letter and one of !@#$%^&*.
func strongPassword(pw string) bool {
	if len(pw) < 8 || len(pw) > 32 {
		return false
	}
	var digit, lower, upper, special bool
	for _, r := range pw {
		switch {
		case r <= ' ' || r > '~':
			return false
		case unicode.IsDigit(r):
			digit = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case r == '!' || r == '@' || r == '#' || r == '$' || r == '%' || r == '^' || r == '&' || r == '*':
			special = true
		}
	}
	return digit && lower && upper && special
}
