package app_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// By default the gateway serves its P-384 certificate to a device whose hello accepts it and its RSA 2048 one to
// the others; -ciraECDSACertificate=false serves RSA 2048 to every device.
func TestCIRAServerCertificates(t *testing.T) {
	leafKey := func(in *instance, suites ...uint16) x509.PublicKeyAlgorithm {
		t.Helper()
		pool := x509.NewCertPool()
		require.True(t, pool.AppendCertsFromPEM(in.ready.GatewayRootCAPEM))
		conf := &tls.Config{RootCAs: pool, ServerName: in.ready.GatewayNames[0], MinVersion: tls.VersionTLS12}
		if suites != nil {
			conf.MaxVersion, conf.CipherSuites = tls.VersionTLS12, suites
		}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", in.ready.CIRA, conf)
		require.NoError(t, err)
		defer func() { _ = conn.Close() }()
		return conn.ConnectionState().PeerCertificates[0].PublicKeyAlgorithm
	}
	in := start(t, "dmm_app_cira_certs_test")
	require.Equal(t, x509.ECDSA, leafKey(in))
	require.Equal(t, x509.RSA, leafKey(in, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256))
	in.stop(t)

	off := start(t, "dmm_app_cira_certs_off_test", "-ciraECDSACertificate=false")
	require.Equal(t, x509.RSA, leafKey(off))
	off.stop(t)
}
