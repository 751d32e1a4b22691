package ciragw

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/test/amtsim/apfclient"
)

// A device gets the first ECDSA certificate its hello accepts, P-256 before P-384, and the RSA one when it accepts
// neither or the gateway has none.
func TestServerCertificateByHello(t *testing.T) {
	both := startGateway(t)
	p384Only := startGateway(t, func(c *Config) { c.ECDSACertificates = testECDSACerts()[1:] })
	rsaOnly := startGateway(t, func(c *Config) { c.ECDSACertificates = nil })
	tls12 := func(curves []tls.CurveID, suites ...uint16) func(*tls.Config) {
		return func(c *tls.Config) {
			c.MaxVersion, c.CipherSuites, c.CurvePreferences = tls.VersionTLS12, suites, curves
		}
	}
	ecdsaSuites := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}
	for _, tc := range []struct {
		name string
		gw   *testGateway
		conf func(*tls.Config)
		want string
	}{
		{"TLS 1.3", both, nil, "P-256"},
		{"TLS 1.3, a gateway with P-384 only", p384Only, nil, "P-384"},
		{"TLS 1.2, ECDSA and RSA suites", both, tls12(nil, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256), "P-256"},
		{"TLS 1.2, the P-384 group only (AMT 22)", both, tls12([]tls.CurveID{tls.CurveP384}, ecdsaSuites...), "P-384"},
		{"TLS 1.2, no P-384 group", both, tls12([]tls.CurveID{tls.X25519, tls.CurveP256}, ecdsaSuites...), "P-256"},
		{"TLS 1.2, neither NIST group", both, tls12([]tls.CurveID{tls.X25519}, ecdsaSuites...), "RSA 2048"},
		{"TLS 1.2, RSA suites only", both, tls12(nil, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256), "RSA 2048"},
		{"TLS 1.2, RSA key exchange", both, tls12(nil, tls.TLS_RSA_WITH_AES_128_CBC_SHA), "RSA 2048"},
		{"TLS 1.3, a gateway without ECDSA certificates", rsaOnly, nil, "RSA 2048"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := clientTLS(false)
			if tc.conf != nil {
				tc.conf(conf)
			}
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", tc.gw.addr, conf)
			require.NoError(t, err)
			defer func() { _ = conn.Close() }()
			require.Equal(t, tc.want, leafKey(conn.ConnectionState().PeerCertificates[0]))
		})
	}
}

func leafKey(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return k.Curve.Params().Name
	}
	return fmt.Sprintf("%T", c.PublicKey)
}

// AMT 22 refuses RSA 2048 and P-256 server certificates. It connects to the gateway as the product configures it
// (P-256 first, then P-384). A gateway without P-384 never offers it P-256, whose group its hello leaves out, but
// RSA 2048, which it refuses with the reason.
func TestCryptoHardenedDevice(t *testing.T) {
	hardened := func(c *apfclient.Config) { c.CryptoHardened = true }
	waitConnected(t, startClient(t, startGateway(t), docGUID, docPass, nil, hardened), 1)

	for _, tc := range []struct {
		name  string
		certs []tls.Certificate
		err   string
	}{
		{"RSA only", nil, "has an RSA 2048 key"},
		{"P-256 only", testECDSACerts()[:1], "has an RSA 2048 key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := startGateway(t, func(c *Config) { c.ECDSACertificates = tc.certs })
			c := startClient(t, gw, docGUID, docPass, nil, hardened)
			s, err := c.WaitFor(t.Context(), func(s apfclient.State) bool { return s.LastError != nil })
			require.NoError(t, err)
			require.ErrorContains(t, s.LastError, tc.err)
			require.Zero(t, s.Connects)
		})
	}
}

// The CPU a handshake's signature costs the gateway (sign) and the device (verify), per server key.
func BenchmarkHandshakeSignature(b *testing.B) {
	_, rsaCert := testPKI()
	for _, c := range append([]tls.Certificate{rsaCert}, testECDSACerts()...) {
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		require.NoError(b, err)
		key := c.PrivateKey.(crypto.Signer)
		hash := crypto.SHA256
		if k, ok := key.Public().(*ecdsa.PublicKey); ok && k.Curve == elliptic.P384() {
			hash = crypto.SHA384
		}
		h := hash.New()
		h.Write([]byte("transcript"))
		digest := h.Sum(nil)
		var opts crypto.SignerOpts = hash
		if _, ok := key.(*rsa.PrivateKey); ok {
			opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: hash}
		}
		sig, err := key.Sign(rand.Reader, digest, opts)
		require.NoError(b, err)
		b.Run(leafKey(leaf)+"/sign", func(b *testing.B) {
			for b.Loop() {
				_, _ = key.Sign(rand.Reader, digest, opts)
			}
		})
		b.Run(leafKey(leaf)+"/verify", func(b *testing.B) {
			for b.Loop() {
				switch k := leaf.PublicKey.(type) {
				case *rsa.PublicKey:
					require.NoError(b, rsa.VerifyPSS(k, hash, digest, sig, opts.(*rsa.PSSOptions)))
				case *ecdsa.PublicKey:
					require.True(b, ecdsa.VerifyASN1(k, digest, sig))
				}
			}
		})
	}
}
