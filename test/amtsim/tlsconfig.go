package amtsim

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/dmrm/dm-manager/test/amtsim/soap"
)

// AMT's own TLS server configuration (protocol-rps-activation §2.10): AMT generates an RSA key pair it never
// reveals, accepts a certificate only over one of its key pairs, binds that certificate to its TLS endpoints with
// an AMT_TLSCredentialContext, and applies the AMT_TLSSettingData written since at CommitChanges.

const (
	keyPairClass       = "AMT_PublicPrivateKeyPair"
	credContextClass   = "AMT_TLSCredentialContext" //nolint:gosec // G101: a class name, not a credential
	tlsSettingClass    = "AMT_TLSSettingData"
	endpointCollClass  = "AMT_TLSProtocolEndpointCollection"
	endpointCollName   = "TLSProtocolEndpoint Instances Collection"
	remoteTLSSettingID = "Intel(r) AMT 802.3 TLS Settings"
	localTLSSettingID  = "Intel(r) AMT LMS TLS Settings"
	supportedKeyLength = 2048
)

// TLSSetting is one AMT_TLSSettingData.
type TLSSetting struct {
	Enabled                    bool `json:"enabled"`
	AcceptNonSecureConnections bool `json:"acceptNonSecureConnections"`
	MutualAuthentication       bool `json:"mutualAuthentication"`
}

var defaultTLSSetting = TLSSetting{AcceptNonSecureConnections: true}

type keyPair struct {
	handle int
	key    *rsa.PrivateKey
}

func (k keyPair) instanceID() string { return fmt.Sprintf("Intel(r) AMT Key: Handle: %d", k.handle) }

// tlsConfigStore is the TLS configuration part of the firmware; zero until used, reset by Unprovision.
type tlsConfigStore struct {
	keys    []keyPair
	nextKey int
	context int           // handle of the certificate in the TLS credential context, 0 = none
	pending [2]TLSSetting // remote, local as written; valid once set
	written bool
	applied [2]TLSSetting // as in force since the last CommitChanges
	inForce int           // certificate handle in force since the last CommitChanges, 0 = none
}

func (s *tlsConfigStore) settings() [2]TLSSetting {
	if !s.written {
		return [2]TLSSetting{defaultTLSSetting, defaultTLSSetting}
	}
	return s.pending
}

// TLSConfigState is the device's TLS configuration as in force (after CommitChanges), for tests.
type TLSConfigState struct {
	Remote   TLSSetting `json:"remote"`
	Local    TLSSetting `json:"local"`
	KeyPairs int        `json:"keyPairs"`
	// Certificate is the DER certificate AMT serves on 16993 since CommitChanges; nil when AMT serves its own.
	Certificate []byte `json:"certificate,omitempty"`
}

// TLSConfig returns the TLS configuration in force.
func (d *Device) TLSConfig() TLSConfigState {
	d.lock()
	defer d.unlock()
	return d.tlsConfigLocked()
}

func (d *Device) tlsConfigLocked() TLSConfigState {
	s := TLSConfigState{KeyPairs: len(d.tlscfg.keys)}
	if d.tlscfg.inForce != 0 {
		s.Remote, s.Local = d.tlscfg.applied[0], d.tlscfg.applied[1]
		if c := d.certByHandle(d.tlscfg.inForce); c != nil {
			s.Certificate = c.DER
		}
	} else {
		s.Remote, s.Local = defaultTLSSetting, defaultTLSSetting
	}
	return s
}

// tlsStateLocked is the TLS configuration for State: nil until one is in force.
func (d *Device) tlsStateLocked() *TLSConfigState {
	if d.tlscfg.inForce == 0 {
		return nil
	}
	s := d.tlsConfigLocked()
	return &s
}

func (d *Device) certByHandle(h int) *Certificate {
	for i := range d.cira.certs {
		if d.cira.certs[i].Handle == h {
			return &d.cira.certs[i]
		}
	}
	return nil
}

func certHandleOf(instanceID string) (int, bool) {
	rest, ok := strings.CutPrefix(instanceID, "Intel(r) AMT Certificate: Handle: ")
	if !ok {
		return 0, false
	}
	h, err := strconv.Atoi(rest)
	return h, err == nil && h > 0
}

// keyFor returns the key pair whose public key the certificate carries.
func (d *Device) keyFor(cert *x509.Certificate) *keyPair {
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil
	}
	for i := range d.tlscfg.keys {
		if d.tlscfg.keys[i].key.PublicKey.Equal(pub) {
			return &d.tlscfg.keys[i]
		}
	}
	return nil
}

// generateKeyPair is AMT_PublicKeyManagementService.GenerateKeyPair (RSA only, 2048 bits).
func (d *Device) generateKeyPair(alg, bits int) (keyPair, int) {
	if d.mode == PreProvisioning {
		return keyPair{}, ptNotPermitted
	}
	if alg != 0 || bits != supportedKeyLength {
		return keyPair{}, ptInvalidParameter
	}
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic("amtsim: RSA key: " + err.Error())
	}
	d.tlscfg.nextKey++
	k := keyPair{handle: d.tlscfg.nextKey, key: key}
	d.tlscfg.keys = append(d.tlscfg.keys, k)
	d.changed()
	return k, ptSuccess
}

// addCertificate is AMT_PublicKeyManagementService.AddCertificate: a leaf whose public key is one of AMT's key
// pairs (AMT holds no private key for anything else).
func (d *Device) addCertificate(der []byte) (int, int) {
	if d.mode == PreProvisioning {
		return 0, ptNotPermitted
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil || cert.IsCA || d.keyFor(cert) == nil {
		return 0, ptInvalidParameter
	}
	for _, c := range d.cira.certs {
		if bytes.Equal(c.DER, der) {
			return 0, ptDuplicate
		}
	}
	d.cira.nextHandle++
	h := d.cira.nextHandle
	d.cira.certs = append(d.cira.certs, Certificate{Handle: h, DER: der})
	d.changed()
	return h, ptSuccess
}

func keyPairEPR(id string) *soap.EPR {
	return &soap.EPR{ResourceURI: soap.AMTPrefix + keyPairClass, Selectors: []soap.Selector{{Name: "InstanceID", Value: id}}}
}

func certEPR(h int) *soap.EPR {
	return &soap.EPR{ResourceURI: soap.AMTPrefix + certClass,
		Selectors: []soap.Selector{{Name: "InstanceID", Value: Certificate{Handle: h}.InstanceID()}}}
}

func endpointCollEPR() *soap.EPR {
	return &soap.EPR{ResourceURI: soap.AMTPrefix + endpointCollClass,
		Selectors: []soap.Selector{{Name: "ElementName", Value: endpointCollName}}}
}

// pkmsTLSMethods are the key and certificate methods of AMT_PublicKeyManagementService used for TLS.
func pkmsTLSMethods(m map[string]method) {
	m["GenerateKeyPair"] = method{params: []string{"KeyAlgorithm", "KeyLength"},
		run: func(c *call, p *params) ([]soap.Prop, int, func()) {
			alg, bits := p.int("KeyAlgorithm"), p.int("KeyLength")
			if p.failed() {
				return nil, 0, nil
			}
			k, rv := c.d.generateKeyPair(alg, bits)
			if rv != ptSuccess {
				return nil, rv, nil
			}
			return []soap.Prop{soap.R("KeyPair", keyPairEPR(k.instanceID()))}, ptSuccess, nil
		}}
	m["AddCertificate"] = method{params: []string{"CertificateBlob"},
		run: func(c *call, p *params) ([]soap.Prop, int, func()) {
			blob := p.str("CertificateBlob")
			if p.failed() {
				return nil, 0, nil
			}
			der, err := base64.StdEncoding.DecodeString(blob)
			if err != nil {
				return nil, ptInvalidParameter, nil
			}
			h, rv := c.d.addCertificate(der)
			if rv != ptSuccess {
				return nil, rv, nil
			}
			return []soap.Prop{soap.R("CreatedCertificate", certEPR(h))}, ptSuccess, nil
		}}
}

// tlsConfigClasses are AMT_PublicPrivateKeyPair, AMT_TLSCredentialContext and AMT_TLSSettingData.
func tlsConfigClasses() []*class {
	keys := amtClass(keyPairClass)
	keys.list = func(d *Device) []*soap.Instance {
		out := make([]*soap.Instance, 0, len(d.tlscfg.keys))
		for _, k := range d.tlscfg.keys {
			out = append(out, &soap.Instance{Class: keyPairClass, Props: []soap.Prop{
				soap.P("DERKey", base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(&k.key.PublicKey))),
				soap.P("ElementName", "Intel(r) AMT Key"), soap.P("InstanceID", k.instanceID()),
			}})
		}
		return out
	}
	keys.del = func(c *call, cur *soap.Instance) *soap.Fault {
		id := cur.Prop("InstanceID").Values[0]
		for _, cert := range c.d.cira.certs {
			if parsed, err := x509.ParseCertificate(cert.DER); err == nil && !cert.TrustedRoot {
				if k := c.d.keyFor(parsed); k != nil && k.instanceID() == id {
					return soap.InvalidRepresentation("the key pair is used by certificate " + cert.InstanceID())
				}
			}
		}
		c.d.tlscfg.keys = deleteWhere(c.d.tlscfg.keys, func(k keyPair) bool { return k.instanceID() == id })
		c.d.changed()
		return nil
	}

	ctx := amtClass(credContextClass)
	ctx.list = func(d *Device) []*soap.Instance {
		if d.tlscfg.context == 0 {
			return nil
		}
		return []*soap.Instance{{Class: credContextClass, Props: []soap.Prop{
			soap.R("ElementInContext", certEPR(d.tlscfg.context)),
			soap.R("ElementProvidingContext", endpointCollEPR()),
		}}}
	}
	ctx.create = createCredentialContext
	ctx.put = func(c *call, _ *soap.Instance, body *soap.Node) (*soap.Instance, *soap.Fault) {
		h, f := credContextCert(c.d, body)
		if f != nil {
			return nil, f
		}
		c.d.tlscfg.context = h
		c.d.changed()
		return ctxInstance(h), nil
	}
	ctx.del = func(c *call, _ *soap.Instance) *soap.Fault {
		c.d.tlscfg.context = 0
		c.d.changed()
		return nil
	}

	settings := amtClass(tlsSettingClass)
	settings.list = func(d *Device) []*soap.Instance {
		s := d.tlscfg.settings()
		out := make([]*soap.Instance, 0, 2)
		for i, id := range []string{remoteTLSSettingID, localTLSSettingID} {
			out = append(out, tlsSettingInstance(d, id, s[i]))
		}
		return out
	}
	settings.put = putTLSSetting
	return []*class{keys, ctx, settings}
}

// createCredentialContext binds a certificate AMT holds the key of to its TLS endpoints.
func createCredentialContext(c *call, body *soap.Node) (*soap.Instance, *soap.Fault) {
	h, f := credContextCert(c.d, body)
	if f != nil {
		return nil, f
	}
	if c.d.tlscfg.context != 0 {
		return nil, soap.AlreadyExists()
	}
	c.d.tlscfg.context = h
	c.d.changed()
	return ctxInstance(h), nil
}

// credContextCert checks an AMT_TLSCredentialContext body (Create or Put) and returns the certificate it names.
func credContextCert(d *Device, body *soap.Node) (int, *soap.Fault) {
	if d.mode == PreProvisioning {
		return 0, soap.AccessDenied()
	}
	inCtx, prov := body.Child("ElementInContext"), body.Child("ElementProvidingContext")
	if inCtx == nil || prov == nil || len(body.Children) != 2 {
		return 0, soap.SchemaValidation("AMT_TLSCredentialContext needs ElementInContext and ElementProvidingContext")
	}
	certRef, provRef := soap.ParseEPR(inCtx), soap.ParseEPR(prov)
	if certRef == nil || provRef == nil {
		return 0, soap.SchemaValidation("ElementInContext and ElementProvidingContext must be endpoint references")
	}
	if provRef.ResourceURI != soap.AMTPrefix+endpointCollClass || selectorValue(provRef, "ElementName") != endpointCollName {
		return 0, soap.InvalidRepresentation("ElementProvidingContext must be the " + endpointCollName)
	}
	h, ok := certHandleOf(selectorValue(certRef, "InstanceID"))
	cert := d.certByHandle(h)
	if certRef.ResourceURI != soap.AMTPrefix+certClass || !ok || cert == nil {
		return 0, soap.InvalidRepresentation("ElementInContext names no certificate AMT holds")
	}
	parsed, err := x509.ParseCertificate(cert.DER)
	if err != nil || cert.TrustedRoot || d.keyFor(parsed) == nil {
		return 0, soap.InvalidRepresentation("ElementInContext is not a certificate over one of AMT's key pairs")
	}
	return h, nil
}

func ctxInstance(h int) *soap.Instance {
	return &soap.Instance{Class: credContextClass, Props: []soap.Prop{
		soap.R("ElementInContext", certEPR(h)), soap.R("ElementProvidingContext", endpointCollEPR()),
	}}
}

// putTLSSetting writes one AMT_TLSSettingData; AMT applies it at CommitChanges. TLS cannot be enabled without a
// credential context, and the host side (LMS) never requires client certificates.
func putTLSSetting(c *call, cur *soap.Instance, body *soap.Node) (*soap.Instance, *soap.Fault) {
	d := c.d
	if d.mode == PreProvisioning {
		return nil, soap.AccessDenied()
	}
	id := cur.Prop("InstanceID").Values[0]
	if v := body.Child("InstanceID"); v != nil && v.Value() != id {
		return nil, soap.InvalidRepresentation("InstanceID does not match the selected instance")
	}
	var s TLSSetting
	for _, f := range []struct {
		name string
		dst  *bool
	}{{"Enabled", &s.Enabled}, {"AcceptNonSecureConnections", &s.AcceptNonSecureConnections},
		{"MutualAuthentication", &s.MutualAuthentication}} {
		n := body.Child(f.name)
		if n == nil || (n.Value() != "true" && n.Value() != "false") {
			return nil, soap.SchemaValidation(f.name + " must be true or false")
		}
		*f.dst = n.Value() == "true"
	}
	if s.Enabled && d.tlscfg.context == 0 {
		return nil, soap.InvalidRepresentation("TLS cannot be enabled without a TLS credential context")
	}
	if d.cfg.TLSOnly && id == remoteTLSSettingID && s.Enabled && s.AcceptNonSecureConnections {
		return nil, soap.InvalidRepresentation("this firmware does not support non-TLS connections next to TLS")
	}
	i := 0
	if id == localTLSSettingID {
		i = 1
		if s.MutualAuthentication {
			return nil, soap.InvalidRepresentation("the local interface does not support mutual authentication")
		}
	}
	all := d.tlscfg.settings()
	all[i] = s
	d.tlscfg.pending, d.tlscfg.written = all, true
	d.changed()
	return tlsSettingInstance(d, id, s), nil
}

// tlsSettingInstance renders one AMT_TLSSettingData; TLS-only firmware adds NonSecureConnectionsSupported to the
// network one.
func tlsSettingInstance(d *Device, id string, s TLSSetting) *soap.Instance {
	props := []soap.Prop{
		soap.P("AcceptNonSecureConnections", strconv.FormatBool(s.AcceptNonSecureConnections)),
		soap.P("ElementName", id), soap.P("Enabled", strconv.FormatBool(s.Enabled)),
		soap.P("InstanceID", id), soap.P("MutualAuthentication", strconv.FormatBool(s.MutualAuthentication)),
	}
	if d.cfg.TLSOnly && id == remoteTLSSettingID {
		props = append(props, soap.P("NonSecureConnectionsSupported", "false"))
	}
	return &soap.Instance{Class: tlsSettingClass, Props: props}
}

// applyTLSConfigLocked puts the written TLS settings and credential context in force (CommitChanges) and reports
// whether AMT's TLS server changed, which makes it roll over.
func (d *Device) applyTLSConfigLocked() bool {
	s := d.tlscfg.settings()
	inForce := 0
	if s[0].Enabled || s[1].Enabled {
		inForce = d.tlscfg.context
	}
	// Without a certificate in force AMT's TLS server is untouched whatever the settings say.
	changed := inForce != d.tlscfg.inForce || (inForce != 0 && s != d.tlscfg.applied)
	d.tlscfg.applied, d.tlscfg.inForce = s, inForce
	return changed
}

// servedCertLocked is the certificate AMT presents on 16993: the one in force after CommitChanges, else its own.
func (d *Device) servedCertLocked() *tls.Certificate {
	if d.tlscfg.inForce != 0 {
		if c := d.certByHandle(d.tlscfg.inForce); c != nil {
			if parsed, err := x509.ParseCertificate(c.DER); err == nil {
				if k := d.keyFor(parsed); k != nil {
					return &tls.Certificate{Certificate: [][]byte{c.DER}, PrivateKey: k.key, Leaf: parsed}
				}
			}
		}
	}
	return d.tlsCertLocked()
}

// servesLocalTLSLocked reports whether port 16993 answers on the host side: always on a TLS-enforcing device,
// otherwise once local TLS is in force.
func (d *Device) servesLocalTLSLocked() bool {
	return d.cfg.TLSEnforced || (d.tlscfg.inForce != 0 && d.tlscfg.applied[1].Enabled)
}

// refusesPlainRemote reports whether network-side WS-Man on 16992 is refused: remote TLS is in force without
// non-TLS connections.
func (d *Device) refusesPlainRemote() bool {
	d.lock()
	defer d.unlock()
	r := d.tlscfg.applied[0]
	return d.tlscfg.inForce != 0 && r.Enabled && !r.AcceptNonSecureConnections
}
