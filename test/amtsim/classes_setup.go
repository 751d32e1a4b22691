package amtsim

import (
	"encoding/base64"
	"strconv"

	"github.com/dmrm/dm-manager/test/amtsim/soap"
)

const hbsName = "Intel(r) AMT Host Based Setup Service"

// setupClasses are host-based provisioning (IPS_HostBasedSetupService, protocol-rps-
// activation §2.3–2.5, §7.8–7.9) and the admin ACL (AMT_AuthorizationService).
func setupClasses() []*class {
	hbs := ipsClass("IPS_HostBasedSetupService")
	hbs.list = func(d *Device) []*soap.Instance {
		return []*soap.Instance{{Class: "IPS_HostBasedSetupService", Props: []soap.Prop{
			soap.P("AllowedControlModes", "2", "1"),
			soap.P("CertChainStatus", strconv.Itoa(d.chain.status)),
			soap.P("ConfigurationNonce", base64.StdEncoding.EncodeToString(d.cfgNonce[:])),
			soap.P("CreationClassName", "IPS_HostBasedSetupService"),
			soap.P("CurrentControlMode", strconv.Itoa(int(d.mode))),
			soap.P("ElementName", hbsName),
			soap.P("Name", hbsName),
			soap.P("SystemCreationClassName", "CIM_ComputerSystem"),
			soap.P("SystemName", "Intel(r) AMT"),
		}}}
	}
	hbs.methods = map[string]method{
		"Setup": {hostOnly: true, params: []string{"NetAdminPassEncryptionType", "NetworkAdminPassword"},
			run: func(c *call, p *params) ([]soap.Prop, int, func()) {
				enc, hash := p.int("NetAdminPassEncryptionType"), p.str("NetworkAdminPassword")
				if p.failed() {
					return nil, 0, nil
				}
				return nil, c.d.setup(enc, hash, c.who), nil
			}},
		"AdminSetup": {hostOnly: true, params: []string{"NetAdminPassEncryptionType", "NetworkAdminPassword",
			"McNonce", "SigningAlgorithm", "DigitalSignature"},
			run: func(c *call, p *params) ([]soap.Prop, int, func()) {
				enc, hash := p.int("NetAdminPassEncryptionType"), p.str("NetworkAdminPassword")
				nonce, alg, sig := p.str("McNonce"), p.int("SigningAlgorithm"), p.str("DigitalSignature")
				if p.failed() {
					return nil, 0, nil
				}
				mc, err1 := base64.StdEncoding.DecodeString(nonce)
				sg, err2 := base64.StdEncoding.DecodeString(sig)
				if err1 != nil || err2 != nil {
					return nil, setupInvalidParam, nil
				}
				return nil, c.d.adminSetup(enc, hash, mc, alg, sg, c.who), nil
			}},
		"AddNextCertInChain": {hostOnly: true, params: []string{"NextCertificate", "IsLeafCertificate", "IsRootCertificate"},
			run: func(c *call, p *params) ([]soap.Prop, int, func()) {
				cert, leaf, root := p.str("NextCertificate"), p.bool("IsLeafCertificate"), p.bool("IsRootCertificate")
				if p.failed() {
					return nil, 0, nil
				}
				der, err := base64.StdEncoding.DecodeString(cert)
				if err != nil {
					return nil, certInvalidParam, nil
				}
				return nil, c.d.addCert(der, leaf, root), nil
			}},
		"UpgradeClientToAdmin": {hostOnly: true, params: []string{"McNonce", "SigningAlgorithm", "DigitalSignature"},
			run: func(c *call, p *params) ([]soap.Prop, int, func()) {
				nonce, alg, sig := p.str("McNonce"), p.int("SigningAlgorithm"), p.str("DigitalSignature")
				if p.failed() {
					return nil, 0, nil
				}
				mc, err1 := base64.StdEncoding.DecodeString(nonce)
				sg, err2 := base64.StdEncoding.DecodeString(sig)
				if err1 != nil || err2 != nil {
					return nil, setupInvalidParam, nil
				}
				return nil, c.d.upgradeClientToAdmin(mc, alg, sg, c.who), nil
			}},
	}

	authz := amtClass("AMT_AuthorizationService")
	authz.list = func(*Device) []*soap.Instance {
		return []*soap.Instance{service("AMT_AuthorizationService", "Intel(r) AMT Authorization Service")}
	}
	authz.methods = map[string]method{"SetAdminAclEntryEx": {params: []string{"Username", "DigestPassword"},
		run: func(c *call, p *params) ([]soap.Prop, int, func()) {
			user, pw := p.str("Username"), p.str("DigestPassword")
			if p.failed() {
				return nil, 0, nil
			}
			digest, err := base64.StdEncoding.DecodeString(pw)
			if err != nil {
				return nil, ptInvalidParameter, nil
			}
			return nil, c.d.setAdminACL(user, digest, c.who), nil
		}}}
	return []*class{hbs, authz}
}
