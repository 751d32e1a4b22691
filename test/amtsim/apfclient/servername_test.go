package apfclient

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// mpsPKI is a CIRA server PKI shaped like MPS's self-generated one (§1.2): a root CA
// and a server certificate whose name is only in the subject CN, with two URI SANs
// and no DNS or IP SAN.
type mpsPKI struct {
	root    *x509.Certificate
	rootKey *rsa.PrivateKey
}

func newMPSPKI(t *testing.T, cn string) *mpsPKI {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn, Organization: []string{"unknown"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		SignatureAlgorithm: x509.SHA384WithRSA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	root, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &mpsPKI{root: root, rootKey: key}
}

// serverCert issues an MPS-style server certificate for commonName.
func (p *mpsPKI) serverCert(t *testing.T, commonName string) tls.Certificate {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	u1, _ := url.Parse("http://" + commonName + "/")
	u2, _ := url.Parse("http://localhost/")
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: commonName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageContentCommitment |
			x509.KeyUsageDataEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, URIs: []*url.URL{u1, u2},
		SignatureAlgorithm: x509.SHA384WithRSA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.root, &key.PublicKey, p.rootKey)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der, p.root.Raw}, PrivateKey: key}
}

func runClient(t *testing.T, cfg Config) *Client {
	cfg.Username, cfg.Password, cfg.GUID = user, pass, guid
	cfg.MinBackoff, cfg.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	c, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return c
}

// TestServerNameIsTheCommonName: the device trusts a CN-only certificate whose chain
// ends at the configured root (MPS's default certificate, §1.2), which Go's standard
// hostname check refuses, and refuses one whose CN is not the configured name or whose
// chain ends elsewhere.
func TestServerNameIsTheCommonName(t *testing.T) {
	const name = "mps.example.test"
	pki := newMPSPKI(t, "MPSRoot-abc123")
	cert := pki.serverCert(t, name)
	s := newTestServerWith(t, cert, pki.root.Raw)

	// What the device did before: Go's SAN-only hostname check (crypto/tls's default)
	// refuses MPS's certificate.
	pool := x509.NewCertPool()
	pool.AddCert(pki.root)
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	require.NoError(t, err)
	_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name})
	require.ErrorContains(t, err, "certificate is not valid for any names")

	t.Run("CN matches, chain ends at the root", func(t *testing.T) {
		c := runClient(t, Config{ServerAddr: s.ln.Addr().String(), RootCA: s.rootPEM, ServerName: "MPS.example.test."})
		s.accept(t).handshake()
		_, err := c.WaitFor(t.Context(), func(st State) bool { return st.Connected })
		require.NoError(t, err)
	})

	refused := map[string]struct {
		name string
		root []byte
		want string
	}{
		"CN does not match":    {"other.example.test", s.rootPEM, `common name "mps.example.test" does not match the configured server name "other.example.test"`},
		"SAN URI host only":    {"localhost", s.rootPEM, `does not match the configured server name "localhost"`},
		"chain ends elsewhere": {name, newMPSPKI(t, "MPSRoot-other").root.Raw, "does not chain to the trusted root"},
	}
	for title, tc := range refused {
		t.Run(title, func(t *testing.T) {
			c := runClient(t, Config{ServerAddr: handshakeOnly(t, cert), RootCA: tc.root, ServerName: tc.name})
			st, err := c.WaitFor(t.Context(), func(st State) bool { return st.LastError != nil })
			require.NoError(t, err)
			require.ErrorContains(t, st.LastError, tc.want)
			require.Zero(t, st.Connects)
		})
	}
}

// handshakeOnly serves cert on loopback: it completes the server side of each TLS
// handshake (the client refuses during it) and closes the connection.
func handshakeOnly(t *testing.T, cert tls.Certificate) string {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			_ = c.(*tls.Conn).Handshake()
			_ = c.Close()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// A chain verified once is remembered per trusted root only: a device trusting another
// root still refuses it, however often the chain was accepted for the first root.
func TestVerifiedChainIsRememberedPerRoot(t *testing.T) {
	pki, other := newMPSPKI(t, "MPSRoot-a"), newMPSPKI(t, "MPSRoot-b")
	cert := pki.serverCert(t, "cira.example.com")
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	require.NoError(t, err)
	cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf, pki.root}}

	trusted, err := rootPool(pki.root.Raw)
	require.NoError(t, err)
	stranger, err := rootPool(other.root.Raw)
	require.NoError(t, err)
	for range 2 {
		require.NoError(t, verifyServer(trusted, "cira.example.com", false)(cs))
		require.ErrorContains(t, verifyServer(stranger, "cira.example.com", false)(cs), "does not chain to the trusted root")
	}
	// The name is checked on every connection, remembered chain or not.
	require.ErrorContains(t, verifyServer(trusted, "other.example.com", false)(cs), "does not match")
}
