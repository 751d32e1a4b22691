package amtsim

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"unicode"

	"github.com/dmrm/dm-manager/test/amtsim/httpwire"
)

// AMT PT_STATUS return values used by AMT_* methods (protocol-cira-wsman §10.4).
const (
	ptSuccess          = 0
	ptNotReady         = 2
	ptNotPermitted     = 16
	ptInvalidParameter = 36
	ptDuplicate        = 2058
	// ptBlockingComponent is Unprovision's refusal while another firmware component blocks it (§10.4).
	ptBlockingComponent = 2076
)

// Factory defaults restored by Unprovision.
const (
	defaultAdminUser    = "admin"
	defaultAdminPass    = "admin"
	defaultMEBxPassword = "admin"
)

// initiator is who asked for an operation, for the audit log (protocol-cira-wsman §10.6).
type initiator struct {
	user string
	addr string
}

// resetProvisioningLocked puts the firmware in factory pre-provisioning state.
func (d *Device) resetProvisioningLocked() {
	d.mode = PreProvisioning
	d.adminUser = defaultAdminUser
	d.adminHA1 = httpwire.HA1(defaultAdminUser, d.realm, defaultAdminPass)
	d.mebx = defaultMEBxPassword
	d.chain = certChain{}
	d.cira = ciraStore{}
	if d.tlscfg.inForce != 0 {
		d.tls.config = nil // back to AMT's own certificate
	}
	d.tlscfg = tlsConfigStore{}
	d.settings = nil
	d.freshNonce()
	d.changed()
}

// freshNonce draws a new ConfigurationNonce; AMT never accepts a signature twice.
func (d *Device) freshNonce() { _, _ = rand.Read(d.cfgNonce[:]) }

// validPasswordHash checks the Setup/AdminSetup NetworkAdminPassword form: lower-case
// hex MD5("admin:"+realm+":"+password) (protocol-rps-activation §2.2).
func validPasswordHash(encType int, hash string) bool {
	if encType != 2 || len(hash) != 32 || strings.ToLower(hash) != hash {
		return false
	}
	_, err := hex.DecodeString(hash)
	return err == nil
}

// setup is IPS_HostBasedSetupService.Setup: pre-provisioning -> CCM.
func (d *Device) setup(encType int, hash string, who initiator) int {
	if d.mode != PreProvisioning {
		return setupInvalidState
	}
	if !validPasswordHash(encType, hash) {
		return setupInvalidParam
	}
	d.provisioned(ClientControl, hash, who)
	return setupOK
}

// adminSetup is IPS_HostBasedSetupService.AdminSetup: pre-provisioning -> ACM after the
// chain from AddNextCertInChain is complete and the nonce signature verifies.
func (d *Device) adminSetup(encType int, hash string, mcNonce []byte, alg int, sig []byte, who initiator) int {
	if d.mode != PreProvisioning {
		return setupInvalidState
	}
	if !validPasswordHash(encType, hash) || alg != signingRSASHA256 || len(mcNonce) != 20 || len(sig) == 0 {
		return setupInvalidParam
	}
	defer d.oneShot()
	if d.chain.status != chainComplete {
		return setupInvalidState
	}
	if !d.verifySetupSignature(mcNonce, sig) {
		d.log.Warn().Msg("AdminSetup signature does not verify against the provisioning certificate")
		return setupAuthFailed
	}
	d.log.Info().Str("cert", d.chain.leafSubject()).Msg("admin control mode setup")
	d.provisioned(AdminControl, hash, who)
	return setupOK
}

// upgradeClientToAdmin is IPS_HostBasedSetupService.UpgradeClientToAdmin: CCM -> ACM.
func (d *Device) upgradeClientToAdmin(mcNonce []byte, alg int, sig []byte, who initiator) int {
	if d.mode != ClientControl {
		return setupInvalidState
	}
	if alg != signingRSASHA256 || len(mcNonce) != 20 || len(sig) == 0 {
		return setupInvalidParam
	}
	defer d.oneShot()
	if d.chain.status != chainComplete {
		return setupInvalidState
	}
	if !d.verifySetupSignature(mcNonce, sig) {
		return setupAuthFailed
	}
	d.mode = AdminControl
	d.auditLocked(who, 16, 18, nil) // 1618 Upgrade Client to Admin Control Mode
	d.log.Info().Msg("upgraded to admin control mode")
	d.changed()
	return setupOK
}

// oneShot ends an AdminSetup/UpgradeClientToAdmin attempt: the chain and nonce are
// consumed whatever the outcome, so a signature can never be replayed.
func (d *Device) oneShot() {
	d.chain = certChain{}
	d.freshNonce()
	d.changed()
}

func (d *Device) provisioned(mode ControlMode, hash string, who initiator) {
	d.auditLocked(who, 16, 0, nil) // 1600 Provisioning Started
	d.mode = mode
	d.adminUser = defaultAdminUser
	d.adminHA1 = hash
	d.freshNonce()
	d.auditLocked(who, 16, 1, nil) // 1601 Provisioning Completed
	d.log.Info().Str("mode", mode.String()).Msg("provisioned")
	d.changed()
}

// unprovision is AMT_SetupAndConfigurationService.Unprovision. The firmware answers
// first and then unprovisions: the returned post runs after the response is written.
func (d *Device) unprovision(provisioningMode int, who initiator) (int, func()) {
	if d.mode == PreProvisioning {
		return ptNotPermitted, nil
	}
	if provisioningMode != 1 {
		return ptInvalidParameter, nil
	}
	if d.unprovisionBlocked {
		return ptBlockingComponent, nil
	}
	return ptSuccess, func() {
		d.lock()
		// 1619 Unprovisioning Started; extended data 4 = "Remote WSMAN" (§13 vectors).
		d.auditLocked(who, 16, 19, []byte{4})
		d.resetProvisioningLocked()
		d.unlock()
		d.log.Info().Msg("unprovisioned")
		d.dropConnections()
	}
}

// BlockUnprovision makes Unprovision refuse (true) with ReturnValue 2076, a blocking component, and change
// nothing, as firmware does while another component holds the configuration; false lets it succeed again.
func (d *Device) BlockUnprovision(blocked bool) {
	d.lock()
	defer d.unlock()
	d.unprovisionBlocked = blocked
	d.changed()
}

// setMEBxPassword is AMT_SetupAndConfigurationService.SetMEBxPassword (ACM only).
func (d *Device) setMEBxPassword(pw string) int {
	if d.mode != AdminControl {
		return ptNotPermitted
	}
	if !strongPassword(pw) {
		return ptInvalidParameter
	}
	d.mebx = pw
	d.changed()
	return ptSuccess
}

// setAdminACL is AMT_AuthorizationService.SetAdminAclEntryEx: DigestPassword is the raw
// 16-byte MD5(user:realm:password) (protocol-rps-activation §2.2).
func (d *Device) setAdminACL(user string, digest []byte, who initiator) int {
	if d.mode == PreProvisioning {
		return ptNotPermitted
	}
	if user == "" || len(user) > 16 || len(digest) != 16 {
		return ptInvalidParameter
	}
	d.adminUser = user
	d.adminHA1 = hex.EncodeToString(digest)
	d.auditLocked(who, 16, 3, nil) // 1603 ACL Entry Modified
	d.changed()
	return ptSuccess
}

// strongPassword is the AMT/MEBx password rule: 8–32 printable ASCII characters with a
// digit, a lower-case letter, an upper-case letter and a special character (§2.2).
func strongPassword(pw string) bool {
	if len(pw) < 8 || len(pw) > 32 {
		return false
	}
	var digit, lower, upper, special bool
	for _, r := range pw {
		switch {
		case r > unicode.MaxASCII || r < '!':
			return false
		case unicode.IsDigit(r):
			digit = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		default:
			special = true
		}
	}
	return digit && lower && upper && special
}
