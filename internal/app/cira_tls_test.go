package app_test

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// By default the gateway serves its P-256 certificate to a device whose hello accepts it, its P-384 one to a device
// that accepts only that (AMT 22), and RSA 2048 to the others; -ciraECDSACurves= serves RSA 2048 to every device.
func TestCIRAServerCertificates(t *testing.T) {
	leafKey := func(in *instance, curves []tls.CurveID, suites ...uint16) string {
		t.Helper()
		pool := x509.NewCertPool()
		require.True(t, pool.AppendCertsFromPEM(in.ready.GatewayRootCAPEM))
		conf := &tls.Config{RootCAs: pool, ServerName: in.ready.GatewayNames[0], MinVersion: tls.VersionTLS12,
			CurvePreferences: curves}
		if suites != nil {
			conf.MaxVersion, conf.CipherSuites = tls.VersionTLS12, suites
		}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", in.ready.CIRA, conf)
		require.NoError(t, err)
		defer func() { _ = conn.Close() }()
		switch k := conn.ConnectionState().PeerCertificates[0].PublicKey.(type) {
		case *rsa.PublicKey:
			return fmt.Sprintf("RSA %d", k.N.BitLen())
		case *ecdsa.PublicKey:
			return k.Curve.Params().Name
		}
		return "?"
	}
	in := start(t, "dmm_app_cira_certs_test")
	require.Equal(t, "P-256", leafKey(in, nil))
	require.Equal(t, "P-384", leafKey(in, []tls.CurveID{tls.CurveP384}, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384))
	require.Equal(t, "RSA 2048", leafKey(in, nil, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256))
	in.stop(t)

	off := start(t, "dmm_app_cira_certs_off_test", "-ciraECDSACurves=")
	require.Equal(t, "RSA 2048", leafKey(off, nil))
	off.stop(t)
}
