// Package certtest builds test PKIs for AMT provisioning certificates: a root, an intermediate and a leaf with
// the AMT provisioning EKU, packed into PFX files with go-pkcs12. Tests generate their own; no real
// provisioning certificate is ever used.
package certtest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"software.sslmate.com/src/go-pkcs12"
)

// Password is the PFX password tests use unless they test passwords.
const Password = "Pfx-Test-Pa55!" //nolint:gosec // G101: throwaway password of generated test PFX files

// LeafCN is the default leaf common name; its domain is Suffix.
const (
	LeafCN = "intel.example.com"
	Suffix = "example.com"
)

var oidAMT = asn1.ObjectIdentifier{2, 16, 840, 1, 113741, 1, 2, 3}

var (
	keyMu sync.Mutex
	keys  = map[int]*rsa.PrivateKey{}
)

// Key returns the i-th cached 2048-bit RSA key, generating it on first use: key generation is the slow part
// of these tests and keys need only differ, not be fresh.
func Key(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	k, err := key(i)
	require.NoError(t, err)
	return k
}

func key(i int) (*rsa.PrivateKey, error) {
	keyMu.Lock()
	defer keyMu.Unlock()
	if k, ok := keys[i]; ok {
		return k, nil
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	keys[i] = k
	return k, nil
}

var serial int64

// CA returns a template for a CA certificate named cn, valid from an hour ago for ten years.
func CA(cn string) *x509.Certificate {
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"dm-manager test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
}

// AMTLeaf returns a template for a provisioning certificate for cn with the AMT EKU, valid for two years.
func AMTLeaf(cn string) *x509.Certificate {
	return &x509.Certificate{
		Subject:            pkix.Name{CommonName: cn, Organization: []string{"dm-manager test"}},
		NotBefore:          time.Now().Add(-time.Hour),
		NotAfter:           time.Now().AddDate(2, 0, 0),
		KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{oidAMT},
	}
}

// Issue signs tmpl for pub with signer as parent; a nil parent makes it self-signed (signer must then hold
// pub's private key).
func Issue(t testing.TB, tmpl *x509.Certificate, pub any, parent *x509.Certificate, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	c, err := issue(tmpl, pub, parent, signer)
	require.NoError(t, err)
	return c
}

func issue(tmpl *x509.Certificate, pub any, parent *x509.Certificate, signer crypto.Signer) (*x509.Certificate, error) {
	keyMu.Lock()
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	keyMu.Unlock()
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// PKI is root -> intermediate -> leaf, all RSA 2048.
type PKI struct {
	RootKey, IntermediateKey, LeafKey *rsa.PrivateKey
	Root, Intermediate, Leaf          *x509.Certificate
}

// New builds a PKI whose leaf is for LeafCN.
func New(t testing.TB) *PKI {
	t.Helper()
	return NewFor(t, LeafCN)
}

// NewFor builds a PKI whose leaf is for cn.
func NewFor(t testing.TB, cn string) *PKI {
	t.Helper()
	p, err := Generate(cn)
	require.NoError(t, err)
	return p
}

// Generate builds a PKI whose leaf is for cn, for programs outside tests (the demo driver uploads one).
func Generate(cn string) (*PKI, error) {
	var p PKI
	var err error
	if p.RootKey, err = key(0); err != nil {
		return nil, err
	}
	if p.IntermediateKey, err = key(1); err != nil {
		return nil, err
	}
	if p.LeafKey, err = key(2); err != nil {
		return nil, err
	}
	if p.Root, err = issue(CA("dm-manager test root"), &p.RootKey.PublicKey, nil, p.RootKey); err != nil {
		return nil, err
	}
	if p.Intermediate, err = issue(CA("dm-manager test intermediate"), &p.IntermediateKey.PublicKey, p.Root, p.RootKey); err != nil {
		return nil, err
	}
	if p.Leaf, err = issue(AMTLeaf(cn), &p.LeafKey.PublicKey, p.Intermediate, p.IntermediateKey); err != nil {
		return nil, err
	}
	return &p, nil
}

// PFX packs the leaf key and leaf, intermediate, root (in that bag order) with the modern encoder.
func (p *PKI) PFX(t testing.TB, password string) []byte {
	t.Helper()
	pfx, err := p.EncodePFX(password)
	require.NoError(t, err)
	return pfx
}

// EncodePFX is PFX returning the error.
func (p *PKI) EncodePFX(password string) ([]byte, error) {
	return pkcs12.Modern.Encode(p.LeafKey, p.Leaf, []*x509.Certificate{p.Intermediate, p.Root}, password)
}

// Encode packs key and certs with enc; certs[0] goes in the first certificate bag.
func Encode(t testing.TB, enc *pkcs12.Encoder, key any, certs []*x509.Certificate, password string) []byte {
	t.Helper()
	pfx, err := enc.Encode(key, certs[0], certs[1:], password)
	require.NoError(t, err)
	return pfx
}
