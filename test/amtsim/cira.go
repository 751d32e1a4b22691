package amtsim

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
)

// MPServer is one AMT_ManagementPresenceRemoteSAP created by AddMpServer.
type MPServer struct {
	Name       string `json:"name"` // "Intel(r) AMT:Management Presence Server N"
	AccessInfo string `json:"accessInfo"`
	InfoFormat int    `json:"infoFormat"` // 3 IPv4, 4 IPv6, 201 FQDN
	Port       int    `json:"port"`
	AuthMethod int    `json:"authMethod"` // 2 username/password
	Username   string `json:"username"`
	Password   string `json:"-"`
	CN         string `json:"cn"`
}

// Address is host:port of the server.
func (s MPServer) Address() string { return net.JoinHostPort(s.AccessInfo, strconv.Itoa(s.Port)) }

// PolicyRule is one AMT_RemoteAccessPolicyRule.
type PolicyRule struct {
	Name           string `json:"name"`    // "User Initiated", "Alert", "Periodic"
	Trigger        int    `json:"trigger"` // 0 user initiated, 1 alert, 2 periodic
	TunnelLifeTime int    `json:"tunnelLifeTime"`
	ExtendedData   []byte `json:"extendedData"`
}

// PolicyLink is one AMT_RemoteAccessPolicyAppliesToMPS: a rule applied to a server.
type PolicyLink struct {
	Rule          string `json:"rule"`
	Server        string `json:"server"`
	MpsType       int    `json:"mpsType"` // 0 external, 1 internal, 2 both
	OrderOfAccess int    `json:"orderOfAccess"`
}

// Certificate is one AMT_PublicKeyCertificate.
type Certificate struct {
	Handle      int    `json:"handle"`
	DER         []byte `json:"der"`
	TrustedRoot bool   `json:"trustedRoot"`
}

// InstanceID is AMT's key for the certificate.
func (c Certificate) InstanceID() string {
	return fmt.Sprintf("Intel(r) AMT Certificate: Handle: %d", c.Handle)
}

// ciraStore is the CIRA part of the firmware configuration; nil slices until used.
type ciraStore struct {
	servers    []MPServer
	nextServer int
	rules      []PolicyRule
	links      []PolicyLink
	certs      []Certificate
	nextHandle int
	uicState   int // AMT_UserInitiatedConnectionService EnabledState; 0 = never set
}

// CIRAConfig is a snapshot of the CIRA configuration, for the CIRA client and tests.
type CIRAConfig struct {
	Provisioned      bool          `json:"provisioned"`
	Servers          []MPServer    `json:"servers"`
	Rules            []PolicyRule  `json:"rules"`
	Links            []PolicyLink  `json:"links"`
	Certificates     []Certificate `json:"certificates"`
	DetectionStrings []string      `json:"detectionStrings"`
	UserInitiated    int           `json:"userInitiated"`
}

// CIRA returns the device's CIRA settings.
func (d *Device) CIRA() CIRAConfig {
	d.lock()
	defer d.unlock()
	return d.ciraLocked()
}

func (d *Device) ciraLocked() CIRAConfig {
	c := &d.cira
	return CIRAConfig{
		Provisioned:      d.mode != PreProvisioning,
		Servers:          append([]MPServer(nil), c.servers...),
		Rules:            append([]PolicyRule(nil), c.rules...),
		Links:            append([]PolicyLink(nil), c.links...),
		Certificates:     append([]Certificate(nil), c.certs...),
		DetectionStrings: append([]string(nil), d.value(environmentDetection, "DetectionStrings")...),
		UserInitiated:    c.uicState,
	}
}

// Periodic returns the server a periodic rule is applied to, the one AMT keeps a tunnel
// to, and the rule's interval in seconds (0 when the rule is daily).
func (c CIRAConfig) Periodic() (MPServer, int, bool) {
	for _, l := range c.Links {
		for _, r := range c.Rules {
			if r.Name != l.Rule || r.Trigger != triggerPeriodic {
				continue
			}
			for _, s := range c.Servers {
				if s.Name == l.Server {
					interval := 0
					if len(r.ExtendedData) == 8 && binary.BigEndian.Uint32(r.ExtendedData) == 0 {
						interval = int(binary.BigEndian.Uint32(r.ExtendedData[4:]))
					}
					return s, interval, true
				}
			}
		}
	}
	return MPServer{}, 0, false
}

// Configured reports whether AMT would open CIRA: provisioned, a trusted root to check
// the server with, and a periodic rule applied to a username/password MPS.
func (c CIRAConfig) Configured() bool {
	s, _, ok := c.Periodic()
	return ok && c.Provisioned && s.AuthMethod == 2 && slices.ContainsFunc(c.Certificates, func(c Certificate) bool { return c.TrustedRoot })
}

// RootPool returns the trusted root certificates AMT verifies the MPS against.
func (c CIRAConfig) RootPool() []*x509.Certificate {
	var out []*x509.Certificate
	for _, cert := range c.Certificates {
		if !cert.TrustedRoot {
			continue
		}
		if parsed, err := x509.ParseCertificate(cert.DER); err == nil {
			out = append(out, parsed)
		}
	}
	return out
}

// Remote access triggers (go-wsman ValueMap {0,1,2,3}; 3 Home Provisioning is unsupported).
const (
	triggerUserInitiated = 0
	triggerAlert         = 1
	triggerPeriodic      = 2
)

var ruleNames = map[int]string{triggerUserInitiated: "User Initiated", triggerAlert: "Alert", triggerPeriodic: "Periodic"}

var (
	fqdnRe     = regexp.MustCompile(`^(?i)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	mpsUserRe  = regexp.MustCompile(`^[A-Za-z0-9]{1,16}$`)
	sapNameFmt = "Intel(r) AMT:Management Presence Server %d"
)

// addMpServer is AMT_RemoteAccessService.AddMpServer (protocol-cira-wsman §1.2).
func (d *Device) addMpServer(s MPServer) (string, int) {
	if d.mode == PreProvisioning {
		return "", ptNotPermitted
	}
	ip := net.ParseIP(s.AccessInfo)
	switch {
	case s.InfoFormat == 3 && (ip == nil || ip.To4() == nil):
		return "", ptInvalidParameter
	case s.InfoFormat == 4 && (ip == nil || ip.To4() != nil):
		return "", ptInvalidParameter
	case s.InfoFormat == 201 && !fqdnRe.MatchString(s.AccessInfo) && (ip == nil || ip.To4() == nil):
		return "", ptInvalidParameter
	case s.InfoFormat != 3 && s.InfoFormat != 4 && s.InfoFormat != 201:
		return "", ptInvalidParameter
	case s.Port < 1 || s.Port > 65535 || len(s.AccessInfo) > 256:
		return "", ptInvalidParameter
	case s.AuthMethod != 2: // mutual TLS needs a client certificate the simulator does not have
		return "", ptInvalidParameter
	case !mpsUserRe.MatchString(s.Username) || s.Password == "" || len(s.Password) > 16:
		return "", ptInvalidParameter
	}
	for _, have := range d.cira.servers {
		if have.AccessInfo == s.AccessInfo && have.Port == s.Port {
			return "", ptDuplicate
		}
	}
	s.Name = fmt.Sprintf(sapNameFmt, d.cira.nextServer)
	d.cira.nextServer++
	d.cira.servers = append(d.cira.servers, s)
	d.changed()
	return s.Name, ptSuccess
}

// addPolicyRule is AMT_RemoteAccessService.AddRemoteAccessPolicyRule.
func (d *Device) addPolicyRule(trigger, lifetime int, ext []byte, server string) (string, int) {
	name, ok := ruleNames[trigger]
	if !ok || lifetime < 0 || len(ext) > 32 {
		return "", ptInvalidParameter
	}
	if trigger == triggerPeriodic {
		// Periodic type 0: u32 interval seconds; type 1: u32 hour + u32 minute (big-endian).
		switch {
		case len(ext) == 8 && binary.BigEndian.Uint32(ext) == 0 && binary.BigEndian.Uint32(ext[4:]) > 0:
		case len(ext) == 12 && binary.BigEndian.Uint32(ext) == 1 &&
			binary.BigEndian.Uint32(ext[4:]) < 24 && binary.BigEndian.Uint32(ext[8:]) < 60:
		default:
			return "", ptInvalidParameter
		}
	} else if len(ext) != 0 {
		return "", ptInvalidParameter
	}
	if d.server(server) == nil {
		return "", ptInvalidParameter
	}
	for _, r := range d.cira.rules {
		if r.Trigger == trigger {
			return "", ptDuplicate
		}
	}
	d.cira.rules = append(d.cira.rules, PolicyRule{Name: name, Trigger: trigger, TunnelLifeTime: lifetime, ExtendedData: ext})
	d.cira.links = append(d.cira.links, PolicyLink{Rule: name, Server: server})
	d.changed()
	return name, ptSuccess
}

func (d *Device) server(name string) *MPServer {
	for i := range d.cira.servers {
		if d.cira.servers[i].Name == name {
			return &d.cira.servers[i]
		}
	}
	return nil
}

// deleteServer removes an MPS and every policy link to it.
func (d *Device) deleteServer(name string) {
	d.cira.servers = deleteWhere(d.cira.servers, func(s MPServer) bool { return s.Name == name })
	d.cira.links = deleteWhere(d.cira.links, func(l PolicyLink) bool { return l.Server == name })
	d.changed()
}

// deleteRule removes a policy rule and its links.
func (d *Device) deleteRule(name string) {
	d.cira.rules = deleteWhere(d.cira.rules, func(r PolicyRule) bool { return r.Name == name })
	d.cira.links = deleteWhere(d.cira.links, func(l PolicyLink) bool { return l.Rule == name })
	d.changed()
}

// addTrustedRoot is AMT_PublicKeyManagementService.AddTrustedRootCertificate.
func (d *Device) addTrustedRoot(der []byte, who initiator) (int, int) {
	if d.mode == PreProvisioning {
		return 0, ptNotPermitted
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil || !cert.IsCA {
		return 0, ptInvalidParameter
	}
	for _, c := range d.cira.certs {
		if bytes.Equal(c.DER, der) {
			return 0, ptDuplicate
		}
	}
	d.cira.nextHandle++
	h := d.cira.nextHandle
	d.cira.certs = append(d.cira.certs, Certificate{Handle: h, DER: der, TrustedRoot: true})
	d.auditLocked(who, 16, 10, nil) // 1610 TLS Trusted Root Certificate Added
	d.changed()
	return h, ptSuccess
}

func (d *Device) deleteCertificate(handle int, who initiator) {
	d.cira.certs = deleteWhere(d.cira.certs, func(c Certificate) bool { return c.Handle == handle })
	d.auditLocked(who, 16, 11, nil) // 1611 TLS Trusted Root Certificate Removed
	d.changed()
}

func deleteWhere[T any](s []T, match func(T) bool) []T {
	out := s[:0]
	for _, v := range s {
		if !match(v) {
			out = append(out, v)
		}
	}
	return out
}
