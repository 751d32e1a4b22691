package ciragw

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// CAStore persists the gateway CA (cmd backs it with the secrets path
// gateway/ca). Load returns an error wrapping ErrNoCA when nothing is stored.
type CAStore interface {
	Load(ctx context.Context) (certPEM, keyPEM []byte, err error)
	// Create stores the CA unless one is stored already, and returns the one stored: of replicas creating it at
	// once, exactly one CA is kept and every replica gets it.
	Create(ctx context.Context, certPEM, keyPEM []byte) (storedCertPEM, storedKeyPEM []byte, err error)
}

// Key sizes and validity follow what MPS generates and AMT is known to accept
// (§1.2): an RSA 3072 root and an RSA 2048 server key signed with SHA-384,
// valid from a year back because AMT's clock may lag. ECDSA server keys
// (ServerCertificateECDSA) are for devices whose hello accepts them.
const (
	rootKeyBits   = 3072
	serverKeyBits = 2048
	backdate      = 365 * 24 * time.Hour
	rootLifetime  = 30 * 365 * 24 * time.Hour
	leafLifetime  = 10 * 365 * 24 * time.Hour
)

// CA is the gateway's own certificate authority. AMT is given its root
// (RootDERBase64) through AddTrustedRootCertificate and then trusts the
// server certificates it issues.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
}

// LoadOrCreateCA loads the CA from store, or creates one and stores it if none
// is stored yet (create-if-absent), so that of replicas racing to create it
// all end up with the one stored first.
func LoadOrCreateCA(ctx context.Context, store CAStore) (*CA, error) {
	certPEM, keyPEM, err := store.Load(ctx)
	if err == nil {
		return ParseCA(certPEM, keyPEM)
	}
	if !errors.Is(err, ErrNoCA) {
		return nil, fmt.Errorf("ciragw: loading gateway CA: %w", err)
	}
	certPEM, keyPEM, err = newCA()
	if err != nil {
		return nil, err
	}
	if certPEM, keyPEM, err = store.Create(ctx, certPEM, keyPEM); err != nil {
		return nil, fmt.Errorf("ciragw: storing new gateway CA: %w", err)
	}
	return ParseCA(certPEM, keyPEM)
}

// ParseCA parses a CA certificate and its PKCS#8 key, both PEM.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, errors.New("ciragw: stored gateway CA certificate is not a PEM CERTIFICATE")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ciragw: parsing stored gateway CA certificate: %w", err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil || kb.Type != "PRIVATE KEY" {
		return nil, errors.New("ciragw: stored gateway CA key is not a PEM PKCS#8 PRIVATE KEY")
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ciragw: parsing stored gateway CA key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("ciragw: stored gateway CA key type %T cannot sign", k)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("ciragw: stored gateway CA key does not match its certificate")
	}
	if !cert.IsCA {
		return nil, errors.New("ciragw: stored gateway CA certificate is not a CA")
	}
	return &CA{cert: cert, certPEM: pem.EncodeToMemory(cb), key: signer}, nil
}

func newCA() (certPEM, keyPEM []byte, err error) {
	key, err := rsa.GenerateKey(rand.Reader, rootKeyBits)
	if err != nil {
		return nil, nil, fmt.Errorf("ciragw: generating CA key: %w", err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("ciragw: encoding CA public key: %w", err)
	}
	skid := sha256.Sum256(spki)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "dm-manager CIRA root " + hex.EncodeToString(skid[:3]), Organization: []string{"dm-manager"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(rootLifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		SubjectKeyId:          skid[:20],
		SignatureAlgorithm:    x509.SHA384WithRSA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("ciragw: self-signing CA certificate: %w", err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("ciragw: encoding CA key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), nil
}

// RootPEM is the CA certificate, PEM.
func (ca *CA) RootPEM() []byte { return ca.certPEM }

// RootDERBase64 is the CA certificate as base64 DER without PEM armour, the
// form AMT_PublicKeyManagementService.AddTrustedRootCertificate takes (§1.2).
func (ca *CA) RootDERBase64() string { return base64.StdEncoding.EncodeToString(ca.cert.Raw) }

// ServerCertificate issues a fresh RSA 2048 server certificate for the
// advertised names (FQDNs or IPs; the first one is also the subject CN, which
// AMT matches against its configured server name, §1.2). It is not persisted:
// each start issues its own, all chaining to the same stored root.
func (ca *CA) ServerCertificate(names ...string) (tls.Certificate, error) {
	if len(names) == 0 || names[0] == "" {
		return tls.Certificate{}, errNoServerName
	}
	key, err := rsa.GenerateKey(rand.Reader, serverKeyBits)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("ciragw: generating server key: %w", err)
	}
	// KeyEncipherment is what the RSA key exchange suites need.
	return ca.issueServer(key, x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment, names)
}

// ServerCertificateECDSA issues a fresh ECDSA server certificate on curve
// (P-256 or P-384) for the same names, as ServerCertificate does. Its
// handshake signature costs the gateway a fraction of an RSA 2048 one, and
// AMT 22's crypto hardening takes only P-384 (or RSA 3072) server keys.
func (ca *CA) ServerCertificateECDSA(curve elliptic.Curve, names ...string) (tls.Certificate, error) {
	if len(names) == 0 || names[0] == "" {
		return tls.Certificate{}, errNoServerName
	}
	if curve != elliptic.P256() && curve != elliptic.P384() {
		return tls.Certificate{}, fmt.Errorf("ciragw: ECDSA server key on %s: only P-256 and P-384 are offered", curveName(curve))
	}
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("ciragw: generating server key: %w", err)
	}
	return ca.issueServer(key, x509.KeyUsageDigitalSignature, names)
}

func curveName(c elliptic.Curve) string {
	if c == nil {
		return "no curve"
	}
	return c.Params().Name
}

var errNoServerName = errors.New("ciragw: server certificate needs the advertised gateway name (-ciraServerAddress host)")

func (ca *CA) issueServer(key crypto.Signer, usage x509.KeyUsage, names []string) (tls.Certificate, error) {
	now := time.Now()
	notAfter := now.Add(leafLifetime)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: names[0], Organization: []string{"dm-manager"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		KeyUsage:              usage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		SignatureAlgorithm:    x509.SHA384WithRSA,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("ciragw: issuing server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("ciragw: parsing issued server certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return n.Add(n, big.NewInt(1))
}

// AMTTLSCertificate issues AMT's own TLS server certificate over a public key AMT generated and keeps
// (protocol-rps-activation §2.10 step 5): EKU serverAuth, a positive 16-byte serial, and the root's validity less a
// minute at each end, as RPS issues it from the MPS root (AMT's clock may be far off, so no lifetime of its own).
func (ca *CA) AMTTLSCertificate(pub crypto.PublicKey, commonName string) ([]byte, error) {
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"dm-manager"}},
		NotBefore:             ca.cert.NotBefore.Add(time.Minute),
		NotAfter:              ca.cert.NotAfter.Add(-time.Minute),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		SignatureAlgorithm:    x509.SHA384WithRSA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("ciragw: issuing AMT's TLS certificate: %w", err)
	}
	return der, nil
}
