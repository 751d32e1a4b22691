package amt

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

// The classes of AMT's own TLS configuration (protocol-rps-activation §2.10).
var (
	uriPublicPrivateKeyPair           = wsman.AMT("AMT_PublicPrivateKeyPair")
	uriTLSCredentialContext           = wsman.AMT("AMT_TLSCredentialContext")
	uriTLSSettingData                 = wsman.AMT("AMT_TLSSettingData")
	uriTLSProtocolEndpointCollection  = wsman.AMT("AMT_TLSProtocolEndpointCollection")
	tlsProtocolEndpointCollectionName = "TLSProtocolEndpoint Instances Collection"
)

// Key algorithm and length RPS asks AMT to generate (§2.10 step 3).
const (
	KeyAlgorithmRSA = 0
	KeyLength2048   = 2048
)

// GenerateKeyPair has AMT generate an RSA key pair it keeps, and returns the InstanceID of the new
// AMT_PublicPrivateKeyPair.
func (c *Client) GenerateKeyPair(ctx context.Context, bits int) (string, error) {
	var out struct {
		KeyPair wsman.EPR
	}
	err := c.invoke(ctx, uriPublicKeyManagementService, "GenerateKeyPair", &out,
		wsman.Int("KeyAlgorithm", KeyAlgorithmRSA), wsman.Int("KeyLength", int64(bits)))
	if err == nil && out.KeyPair.Selector("InstanceID") == "" {
		err = fmt.Errorf("GenerateKeyPair returned no key pair reference")
	}
	return out.KeyPair.Selector("InstanceID"), err
}

// KeyPair is AMT_PublicPrivateKeyPair: the public half (DERKey, base64 PKCS#1 RSAPublicKey) of a key AMT holds.
type KeyPair struct {
	ElementName string
	InstanceID  string
	DERKey      string
}

// PublicKey parses DERKey.
func (k KeyPair) PublicKey() (*rsa.PublicKey, error) {
	der, err := base64.StdEncoding.DecodeString(k.DERKey)
	if err != nil {
		return nil, fmt.Errorf("key pair %s: DERKey is not base64: %w", k.InstanceID, err)
	}
	pub, err := x509.ParsePKCS1PublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("key pair %s: DERKey is not an RSA public key: %w", k.InstanceID, err)
	}
	return pub, nil
}

// KeyPairs enumerates AMT_PublicPrivateKeyPair.
func (c *Client) KeyPairs(ctx context.Context) ([]KeyPair, error) {
	return enumerate[KeyPair](ctx, c, uriPublicPrivateKeyPair)
}

// AddCertificate installs a certificate (DER) whose public key is one of AMT's key pairs, and returns the
// InstanceID of the created AMT_PublicKeyCertificate (§2.10 step 5).
func (c *Client) AddCertificate(ctx context.Context, certDER []byte) (string, error) {
	var out struct {
		CreatedCertificate wsman.EPR
	}
	err := c.invoke(ctx, uriPublicKeyManagementService, "AddCertificate", &out,
		wsman.Text("CertificateBlob", base64.StdEncoding.EncodeToString(certDER)))
	if err == nil && out.CreatedCertificate.Selector("InstanceID") == "" {
		err = fmt.Errorf("AddCertificate returned no certificate reference")
	}
	return out.CreatedCertificate.Selector("InstanceID"), err
}

// CreateTLSCredentialContext makes AMT's TLS server use the certificate with the given InstanceID (§2.10 step 6).
func (c *Client) CreateTLSCredentialContext(ctx context.Context, certInstanceID string) error {
	_, err := c.ws.Create(ctx, uriTLSCredentialContext, credentialContext(certInstanceID)...)
	return err
}

// PutTLSCredentialContext points the existing credential context at another certificate ("Put if it exists").
func (c *Client) PutTLSCredentialContext(ctx context.Context, certInstanceID string) error {
	_, err := c.ws.Put(ctx, uriTLSCredentialContext, credentialContext(certInstanceID))
	return err
}

// TLSCredentialContexts counts the AMT_TLSCredentialContext instances (AMT has at most one).
func (c *Client) TLSCredentialContexts(ctx context.Context) (int, error) {
	items, err := c.ws.EnumerateAll(ctx, uriTLSCredentialContext)
	return len(items), err
}

func credentialContext(certInstanceID string) []wsman.Param {
	return []wsman.Param{
		wsman.Ref("ElementInContext", wsman.EPR{Address: wsman.AddressAnonymous, ResourceURI: uriPublicKeyCertificate,
			Selectors: []wsman.Selector{{Name: "InstanceID", Value: certInstanceID}}}),
		wsman.Ref("ElementProvidingContext", wsman.EPR{Address: wsman.AddressAnonymous,
			ResourceURI: uriTLSProtocolEndpointCollection,
			Selectors:   []wsman.Selector{{Name: "ElementName", Value: tlsProtocolEndpointCollectionName}}}),
	}
}

// DeleteKeyPair removes one of AMT's key pairs.
func (c *Client) DeleteKeyPair(ctx context.Context, instanceID string) error {
	return c.ws.Delete(ctx, uriPublicPrivateKeyPair, wsman.Selector{Name: "InstanceID", Value: instanceID})
}

// TLSSettingData is AMT_TLSSettingData: one for the network interface ("… 802.3 TLS Settings", remote) and one
// for the host side ("… LMS TLS Settings", local).
type TLSSettingData struct {
	ElementName                string
	InstanceID                 string
	Enabled                    bool
	AcceptNonSecureConnections bool
	MutualAuthentication       bool
	// NonSecureConnectionsSupported is read-only; when AMT reports it false, AcceptNonSecureConnections cannot be set
	// and TLS on that interface refuses non-TLS connections. Absent (nil) on firmware that does not report it.
	NonSecureConnectionsSupported *bool
}

// Remote reports whether the setting is the network interface's.
func (s TLSSettingData) Remote() bool { return s.InstanceID == "Intel(r) AMT 802.3 TLS Settings" }

// TLSSettings enumerates AMT_TLSSettingData.
func (c *Client) TLSSettings(ctx context.Context) ([]TLSSettingData, error) {
	return enumerate[TLSSettingData](ctx, c, uriTLSSettingData)
}

// PutTLSSettings writes one AMT_TLSSettingData, selected by its InstanceID; AMT applies it at CommitChanges.
func (c *Client) PutTLSSettings(ctx context.Context, s TLSSettingData) error {
	p := params{}
	p.boolean("AcceptNonSecureConnections", s.AcceptNonSecureConnections)
	p.text("ElementName", s.ElementName)
	p.boolean("Enabled", s.Enabled)
	p.text("InstanceID", s.InstanceID)
	p.boolean("MutualAuthentication", s.MutualAuthentication)
	_, err := c.ws.Put(ctx, uriTLSSettingData, p, wsman.Selector{Name: "InstanceID", Value: s.InstanceID})
	return err
}
