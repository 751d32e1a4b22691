package amtsim

import (
	"crypto/x509"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/dmrm/dm-manager/test/amtsim/soap"
)

const (
	sapClass      = "AMT_ManagementPresenceRemoteSAP"
	ruleClass     = "AMT_RemoteAccessPolicyRule"
	certClass     = "AMT_PublicKeyCertificate"
	uicStateNone  = 32768 // BIOS and OS interfaces disabled
	uicStateMax   = 32771 // both enabled
	cimInvalidArg = 5     // CIM RequestStateChange "Invalid Parameter"
)

func sapEPR(name string) *soap.EPR { return systemEPR(sapClass, "Name", name, soap.AMTPrefix) }

func ruleEPR(name string) *soap.EPR {
	return systemEPR(ruleClass, "PolicyRuleName", name, soap.AMTPrefix)
}

// ciraClasses hold the CIRA configuration RPS writes (protocol-rps-activation §2.6, §2.9).
func ciraClasses() []*class {
	pkms := amtClass("AMT_PublicKeyManagementService")
	pkms.list = func(*Device) []*soap.Instance {
		return []*soap.Instance{service("AMT_PublicKeyManagementService", "Intel(r) AMT Public Key Management Service")}
	}
	pkms.methods = map[string]method{"AddTrustedRootCertificate": {params: []string{"CertificateBlob"},
		run: func(c *call, p *params) ([]soap.Prop, int, func()) {
			blob := p.str("CertificateBlob")
			if p.failed() {
				return nil, 0, nil
			}
			der, err := base64.StdEncoding.DecodeString(blob)
			if err != nil {
				return nil, ptInvalidParameter, nil
			}
			h, rv := c.d.addTrustedRoot(der, c.who)
			if rv != ptSuccess {
				return nil, rv, nil
			}
			id := Certificate{Handle: h}.InstanceID()
			return []soap.Prop{soap.R("CreatedCertificate", &soap.EPR{ResourceURI: soap.AMTPrefix + certClass,
				Selectors: []soap.Selector{{Name: "InstanceID", Value: id}}})}, ptSuccess, nil
		}}}
	pkmsTLSMethods(pkms.methods)

	certs := amtClass(certClass)
	certs.list = func(d *Device) []*soap.Instance {
		out := make([]*soap.Instance, 0, len(d.cira.certs))
		for _, c := range d.cira.certs {
			var issuer, subject string
			if parsed, err := x509.ParseCertificate(c.DER); err == nil {
				issuer, subject = parsed.Issuer.String(), parsed.Subject.String()
			}
			out = append(out, &soap.Instance{Class: certClass, Props: []soap.Prop{
				soap.P("ElementName", "Intel(r) AMT Certificate"), soap.P("InstanceID", c.InstanceID()),
				soap.P("Issuer", issuer), soap.P("ReadOnlyCertificate", "false"), soap.P("Subject", subject),
				// AMT spells the property this way.
				soap.P("TrustedRootCertficate", strconv.FormatBool(c.TrustedRoot)),
				soap.P("X509Certificate", base64.StdEncoding.EncodeToString(c.DER)),
			}})
		}
		return out
	}
	certs.del = func(c *call, cur *soap.Instance) *soap.Fault {
		id := cur.Prop("InstanceID").Values[0]
		h, _ := strconv.Atoi(id[strings.LastIndexByte(id, ' ')+1:])
		c.d.deleteCertificate(h, c.who)
		return nil
	}

	ras := amtClass("AMT_RemoteAccessService")
	ras.list = func(*Device) []*soap.Instance {
		return []*soap.Instance{service("AMT_RemoteAccessService", "Intel(r) AMT Remote Access Service")}
	}
	ras.methods = map[string]method{
		"AddMpServer": {params: []string{"AccessInfo", "InfoFormat", "Port", "AuthMethod", "Username", "Password", "CN", "Certificate"},
			run: addMpServer},
		"AddRemoteAccessPolicyRule": {params: []string{"Trigger", "TunnelLifeTime", "ExtendedData", "MpServer"},
			run: addPolicyRule},
	}

	sap := amtClass(sapClass)
	sap.list = func(d *Device) []*soap.Instance {
		out := make([]*soap.Instance, 0, len(d.cira.servers))
		for _, s := range d.cira.servers {
			out = append(out, &soap.Instance{Class: sapClass, Props: []soap.Prop{
				soap.P("AccessInfo", s.AccessInfo), soap.P("CN", s.CN), soap.P("CreationClassName", sapClass),
				soap.P("ElementName", "Intel(r) AMT:Management Presence Server"),
				soap.P("InfoFormat", strconv.Itoa(s.InfoFormat)), soap.P("Name", s.Name), soap.P("Port", strconv.Itoa(s.Port)),
				soap.P("SystemCreationClassName", "CIM_ComputerSystem"), soap.P("SystemName", "Intel(r) AMT"),
			}})
		}
		return out
	}
	sap.del = func(c *call, cur *soap.Instance) *soap.Fault {
		c.d.deleteServer(cur.Prop("Name").Values[0])
		return nil
	}

	rules := amtClass(ruleClass)
	rules.list = func(d *Device) []*soap.Instance {
		out := make([]*soap.Instance, 0, len(d.cira.rules))
		for _, r := range d.cira.rules {
			out = append(out, &soap.Instance{Class: ruleClass, Props: []soap.Prop{
				soap.P("CreationClassName", ruleClass), soap.P("ElementName", "Intel(r) AMT:Remote Access Policy"),
				soap.P("ExtendedData", base64.StdEncoding.EncodeToString(r.ExtendedData)),
				soap.P("PolicyRuleName", r.Name), soap.P("SystemCreationClassName", "CIM_ComputerSystem"),
				soap.P("SystemName", "Intel(r) AMT"), soap.P("Trigger", strconv.Itoa(r.Trigger)),
				soap.P("TunnelLifeTime", strconv.Itoa(r.TunnelLifeTime)),
			}})
		}
		return out
	}
	rules.del = func(c *call, cur *soap.Instance) *soap.Fault {
		c.d.deleteRule(cur.Prop("PolicyRuleName").Values[0])
		return nil
	}

	applies := amtClass("AMT_RemoteAccessPolicyAppliesToMPS")
	applies.list = func(d *Device) []*soap.Instance {
		out := make([]*soap.Instance, 0, len(d.cira.links))
		for _, l := range d.cira.links {
			out = append(out, appliesInstance(l))
		}
		return out
	}
	applies.put = putApplies

	uic := amtClass("AMT_UserInitiatedConnectionService")
	uic.list = func(d *Device) []*soap.Instance {
		state := d.cira.uicState
		if state == 0 {
			state = uicStateNone
		}
		return []*soap.Instance{service("AMT_UserInitiatedConnectionService", "Intel(r) AMT User Initiated Connection Service",
			soap.P("EnabledState", strconv.Itoa(state)))}
	}
	uic.methods = map[string]method{"RequestStateChange": {params: []string{"RequestedState", "TimeoutPeriod"},
		run: func(c *call, p *params) ([]soap.Prop, int, func()) {
			s := p.int("RequestedState")
			if p.failed() {
				return nil, 0, nil
			}
			if s < uicStateNone || s > uicStateMax {
				return nil, cimInvalidArg, nil
			}
			c.d.cira.uicState = s
			c.d.changed()
			return nil, ptSuccess, nil
		}}}

	env := amtClass("AMT_EnvironmentDetectionSettingData")
	env.list = func(d *Device) []*soap.Instance { return []*soap.Instance{d.settingsInstance(environmentDetection)} }
	env.put = func(c *call, _ *soap.Instance, body *soap.Node) (*soap.Instance, *soap.Fault) {
		if f := c.d.putSettings(environmentDetection, body); f != nil {
			return nil, f
		}
		return c.d.settingsInstance(environmentDetection), nil
	}
	return []*class{pkms, certs, ras, sap, rules, applies, uic, env}
}

func addMpServer(c *call, p *params) ([]soap.Prop, int, func()) {
	s := MPServer{
		AccessInfo: p.str("AccessInfo"), InfoFormat: p.int("InfoFormat"), Port: p.int("Port"),
		AuthMethod: p.int("AuthMethod"), Username: p.opt("Username"), Password: p.opt("Password"), CN: p.opt("CN"),
	}
	if p.failed() {
		return nil, 0, nil
	}
	name, rv := c.d.addMpServer(s)
	if rv != ptSuccess {
		return nil, rv, nil
	}
	return []soap.Prop{soap.R("MpServer", sapEPR(name))}, ptSuccess, nil
}

func addPolicyRule(c *call, p *params) ([]soap.Prop, int, func()) {
	trigger, lifetime, extText, server := p.int("Trigger"), p.int("TunnelLifeTime"), p.opt("ExtendedData"), p.ref("MpServer")
	if p.failed() {
		return nil, 0, nil
	}
	ext, err := base64.StdEncoding.DecodeString(extText)
	if err != nil || server.ResourceURI != soap.AMTPrefix+sapClass {
		return nil, ptInvalidParameter, nil
	}
	name, rv := c.d.addPolicyRule(trigger, lifetime, ext, selectorValue(server, "Name"))
	if rv != ptSuccess {
		return nil, rv, nil
	}
	return []soap.Prop{soap.R("PolicyRule", ruleEPR(name))}, ptSuccess, nil
}

func appliesInstance(l PolicyLink) *soap.Instance {
	return &soap.Instance{Class: "AMT_RemoteAccessPolicyAppliesToMPS", Props: []soap.Prop{
		soap.R("ManagedElement", sapEPR(l.Server)),
		soap.P("MpsType", strconv.Itoa(l.MpsType)),
		soap.P("OrderOfAccess", strconv.Itoa(l.OrderOfAccess)),
		soap.R("PolicySet", ruleEPR(l.Rule)),
	}}
}

// putApplies changes MpsType/OrderOfAccess (and the server) of one policy link; the
// rule it belongs to cannot change (protocol-rps-activation §2.9 step 11).
func putApplies(c *call, cur *soap.Instance, body *soap.Node) (*soap.Instance, *soap.Fault) {
	d := c.d
	rule := selectorValue(cur.Prop("PolicySet").Ref, "PolicyRuleName")
	me, ps := body.Child("ManagedElement"), body.Child("PolicySet")
	if me == nil || ps == nil {
		return nil, soap.InvalidRepresentation("ManagedElement and PolicySet are required")
	}
	meRef, psRef := soap.ParseEPR(me), soap.ParseEPR(ps)
	if meRef == nil || psRef == nil || selectorValue(psRef, "PolicyRuleName") != rule {
		return nil, soap.InvalidRepresentation("PolicySet must reference the rule of this instance")
	}
	server := selectorValue(meRef, "Name")
	if meRef.ResourceURI != soap.AMTPrefix+sapClass || d.server(server) == nil {
		return nil, soap.InvalidRepresentation("ManagedElement must reference an existing MPS")
	}
	mpsType, err1 := strconv.Atoi(body.Child("MpsType").Value())
	order, err2 := strconv.Atoi(body.Child("OrderOfAccess").Value())
	if err1 != nil || err2 != nil || mpsType < 0 || mpsType > 2 || order < 0 {
		return nil, soap.InvalidRepresentation("MpsType must be 0..2 and OrderOfAccess a non-negative integer")
	}
	for i := range d.cira.links {
		l := &d.cira.links[i]
		if l.Rule == rule {
			l.Server, l.MpsType, l.OrderOfAccess = server, mpsType, order
			d.changed()
			return appliesInstance(*l), nil
		}
	}
	return nil, soap.DestinationUnreachable("")
}
