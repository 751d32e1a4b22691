package ciragw

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/test/amtsim/apfclient"
)

// The P-384 certificate goes to every hello that accepts it, the RSA one to the others and to every device of a
// gateway configured without it.
func TestServerCertificateByHello(t *testing.T) {
	both := startGateway(t)
	rsaOnly := startGateway(t, func(c *Config) { c.ECDSACertificate = nil })
	tls12 := func(curves []tls.CurveID, suites ...uint16) func(*tls.Config) {
		return func(c *tls.Config) {
			c.MaxVersion, c.CipherSuites, c.CurvePreferences = tls.VersionTLS12, suites, curves
		}
	}
	for _, tc := range []struct {
		name string
		gw   *testGateway
		conf func(*tls.Config)
		want x509.PublicKeyAlgorithm
	}{
		{"TLS 1.3", both, nil, x509.ECDSA},
		{"TLS 1.2, ECDSA and RSA suites", both, tls12(nil, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256), x509.ECDSA},
		{"TLS 1.2, RSA suites only", both, tls12(nil, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256), x509.RSA},
		{"TLS 1.2, RSA key exchange", both, tls12(nil, tls.TLS_RSA_WITH_AES_128_CBC_SHA), x509.RSA},
		{"TLS 1.2 without the P-384 group", both, tls12([]tls.CurveID{tls.X25519, tls.CurveP256},
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256), x509.RSA},
		{"TLS 1.3, gateway without the ECDSA certificate", rsaOnly, nil, x509.RSA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := clientTLS(false)
			if tc.conf != nil {
				tc.conf(conf)
			}
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", tc.gw.addr, conf)
			require.NoError(t, err)
			defer func() { _ = conn.Close() }()
			require.Equal(t, tc.want, conn.ConnectionState().PeerCertificates[0].PublicKeyAlgorithm)
		})
	}
}

// AMT 22 refuses an RSA 2048 server certificate: it connects to a gateway that has the P-384 one, and to a gateway
// without it fails with the reason.
func TestCryptoHardenedDevice(t *testing.T) {
	hardened := func(c *apfclient.Config) { c.CryptoHardened = true }
	waitConnected(t, startClient(t, startGateway(t), docGUID, docPass, nil, hardened), 1)

	c := startClient(t, startGateway(t, func(c *Config) { c.ECDSACertificate = nil }), docGUID, docPass, nil, hardened)
	s, err := c.WaitFor(t.Context(), func(s apfclient.State) bool { return s.LastError != nil })
	require.NoError(t, err)
	require.ErrorContains(t, s.LastError, "has an RSA 2048 key")
	require.Zero(t, s.Connects)
}
