package rps

import (
	"context"
	"errors"
	"fmt"
	"net"
	"unicode"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/store"
)

// maintenance is `maintenance … --<task>` (§2.13) on an activated device whose password we know.
func (o *op) maintenance(ctx context.Context) error {
	p, task := o.p, o.cmd.Task
	if task == "" {
		return refuse("%s - missing maintenance task in message", o.s.clientID)
	}
	if p.CurrentMode <= 0 {
		return refuse("Device %s is in pre-provisioning mode.", p.UUID)
	}
	run, ok := map[string]func(context.Context) error{
		"synctime": o.syncTime, "synchostname": o.syncHostname, "syncip": o.syncIP,
		"syncdeviceinfo": o.syncDeviceInfo,
	}[task]
	if !ok && task != "changepassword" {
		return refuse("%s - unknown task %s", o.s.clientID, task)
	}
	auth, stored, err := o.authorizeActivated(ctx)
	if err != nil {
		return err
	}
	if err := o.checkTaskInput(task); err != nil {
		return err
	}
	o.res.mode = modeName(reportedMode(p.CurrentMode))
	if task == "changepassword" {
		return o.changePassword(ctx, auth, stored)
	}
	if task != "syncdeviceinfo" {
		if err := o.connect("admin", auth); err != nil {
			return fail(task+" failed", err)
		}
	}
	if err := run(ctx); err != nil {
		var r *refusal
		if errors.As(err, &r) {
			return err
		}
		return &failure{text: task + " failed " + explain(err), cause: err}
	}
	o.res.status.Status = task + " completed succesfully" // sic, the reference text (§2.13)
	return nil
}

// checkTaskInput checks what rpc-go must send for syncip and synchostname before anything is read (§2.13).
func (o *op) checkTaskInput(task string) error {
	switch task {
	case "synchostname":
		if o.p.HostnameInfo == nil || o.p.HostnameInfo.Hostname == "" {
			return refuse("%s - missing HostnameInfo", o.s.clientID)
		}
		if len(o.p.HostnameInfo.Hostname) > 63 {
			return refuse("synchostname failed: host name %q is longer than AMT's 63 characters", o.p.HostnameInfo.Hostname)
		}
	case "syncip":
		ipc := o.p.IPConfiguration
		if ipc == nil || (!ipc.DHCP && !ipc.Static) {
			return refuse("%s - missing ipConfiguration", o.s.clientID)
		}
		if ipc.Static {
			for name, v := range map[string]string{"ipAddress": ipc.IPAddress, "netmask": ipc.Netmask} {
				if net.ParseIP(v).To4() == nil {
					return refuse("syncip failed: %s %q is not an IPv4 address; rpc-go must report the host's "+
						"static address and netmask", name, v)
				}
			}
		}
	}
	return nil
}

// syncTime sets AMT's clock to ours (GetLowAccuracyTimeSynch, SetHighAccuracyTimeSynch).
func (o *op) syncTime(ctx context.Context) error {
	return o.step(ctx, "sync_time", func(ctx context.Context) error { return o.amt.SyncClock(ctx, o.e.cfg.Now) })
}

// syncHostname writes the OS host name and DNS suffix into AMT_GeneralSettings.
func (o *op) syncHostname(ctx context.Context) error {
	var gs amt.GeneralSettings
	if err := o.step(ctx, "general_settings", func(ctx context.Context) error {
		var err error
		gs, err = o.amt.GeneralSettings(ctx)
		return err
	}); err != nil {
		return err
	}
	gs.HostName = o.p.HostnameInfo.Hostname
	if s := o.p.HostnameInfo.DNSSuffixOS; s != "" {
		gs.DomainName = s
	}
	return o.step(ctx, "put_general_settings", func(ctx context.Context) error {
		_, err := o.amt.PutGeneralSettings(ctx, gs)
		return err
	})
}

// syncIP makes AMT's wired port follow the host: DHCP, or the host's static address with IP sync off.
func (o *op) syncIP(ctx context.Context) error {
	port, err := o.wiredPort(ctx)
	if err != nil {
		return err
	}
	if port == nil {
		return errors.New("the device has no wired port")
	}
	ipc := o.p.IPConfiguration
	if ipc.DHCP {
		port.DHCPEnabled, port.IpSyncEnabled, port.SharedStaticIp = true, true, false
	} else {
		port.DHCPEnabled, port.IpSyncEnabled, port.SharedStaticIp = false, false, false
		port.IPAddress, port.SubnetMask, port.DefaultGateway = ipc.IPAddress, ipc.Netmask, ipc.Gateway
		port.PrimaryDNS, port.SecondaryDNS = ipc.PrimaryDNS, ipc.SecondaryDNS
	}
	return o.step(ctx, "put_ethernet", func(ctx context.Context) error {
		_, err := o.amt.PutEthernetPortSettings(ctx, *port)
		return err
	})
}

// syncDeviceInfo refreshes the device record from what rpc-go reports (firmware version, build, SKU, names); it
// talks to nobody but the store (§2.13).
func (o *op) syncDeviceInfo(ctx context.Context) error {
	if o.tenant == "" {
		return refuse("syncdeviceinfo failed: device %s is not recorded by dm-manager; activate it first", o.p.UUID)
	}
	return o.step(ctx, "save_device", func(ctx context.Context) error {
		d, err := o.e.cfg.Store.GetDevice(ctx, o.p.UUID)
		if errors.Is(err, store.ErrNotFound) {
			return refuse("syncdeviceinfo failed: device %s is not recorded by dm-manager; activate it first", o.p.UUID)
		}
		if err != nil {
			return err
		}
		d.AMTVersion, d.AMTBuild, d.AMTSKU = o.p.Version, o.p.Build, o.p.SKU
		if _, err := o.e.cfg.Store.UpsertDevice(ctx, d); err != nil {
			return err
		}
		return o.saveFacts(ctx)
	})
}

// changePassword sets the new admin password (taskArg, or a random one) with SetAdminAclEntryEx, whose ReturnValue
// must be 0, and stores it (§2.13).
func (o *op) changePassword(ctx context.Context, auth adminPasswords, stored deviceSecrets) error {
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
	current := o.ws.CurrentPassword() // the one AMT accepted: the stored one, or the one before a lost change
	// As in adopt: the new password is recorded with the current one before the change, and alone after it.
	stored.AMTPassword, stored.PreviousAMTPassword = newPassword, current
	if o.tenant != "" {
		if err := o.writeDeviceSecrets(ctx, stored); err != nil {
			return fmt.Errorf("%s: the new password could not be stored, so AMT's was not changed: %w", failed, err)
		}
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
	stored.PreviousAMTPassword = ""
	if err := o.writeDeviceSecrets(ctx, stored); err != nil {
		return fmt.Errorf("%s: the new password is set on AMT and stored, but the old one is still stored next to it "+
			"(the next activation removes it): %w", failed, err)
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
