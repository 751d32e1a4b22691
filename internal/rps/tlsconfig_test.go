package rps_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
	"github.com/dmrm/dm-manager/internal/rps"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/amtsim/rpc"
)

// rootIssuer signs AMT's TLS certificate with the test gateway root, as the gateway CA does.
type rootIssuer struct{ t testing.TB }

func (i rootIssuer) AMTTLSCertificate(pub crypto.PublicKey, cn string) ([]byte, error) {
	tmpl := certtest.AMTLeaf(cn)
	tmpl.UnknownExtKeyUsage = nil
	return certtest.Issue(i.t, tmpl, pub, gatewayRoot(i.t), certtest.Key(i.t, 7)).Raw, nil
}

func tlsModeEnv(t *testing.T) *env {
	return tlsEnv(t, func(c *rps.Config) { c.TLSIssuer, c.TLSSettingsDelay = rootIssuer{t}, 100*time.Millisecond })
}

func setTLSMode(t *testing.T, tenant, profile string, m store.TLSMode) {
	t.Helper()
	p, err := testStore.GetProfile(context.Background(), tenant, profile)
	require.NoError(t, err)
	f := p.Features
	f.TLSMode = m
	_, err = testStore.SetProfileFeatures(context.Background(), tenant, profile, f)
	require.NoError(t, err)
}

func sha(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// TestTLSConfiguration: a profile with a TLS mode ends with AMT serving a certificate the gateway CA issued over a
// key AMT generated, TLS on both sides with non-TLS connections still accepted, and the pin moved to that certificate.
// Reconfiguring the device later goes through the issued certificate and replaces it.
func TestTLSConfiguration(t *testing.T) {
	e := tlsModeEnv(t)
	tenant := newTenant(t, "static")
	setTLSMode(t, tenant, tenant+"_ccm", store.TLSModeServer)
	d := tlsDevice(t, e, tenant, nil)
	guid := d.GUID().String()

	res := e.run(t, d, rpc.Config{Command: rpc.ActivateCommand(tenant+"_ccm", false)})
	require.True(t, res.OK(), res.Message)
	require.Equal(t, "Configured", res.StatusObject.TLSConfiguration)
	require.Equal(t, "Configured", res.StatusObject.CIRAConnection, "CIRA after TLS, over the issued certificate")
	requireCIRA(t, d, tenant)
	st := d.State().TLS
	require.NotNil(t, st)
	require.Equal(t, amtsim.TLSSetting{Enabled: true, AcceptNonSecureConnections: true}, st.Remote)
	require.Equal(t, amtsim.TLSSetting{Enabled: true, AcceptNonSecureConnections: true}, st.Local)
	issued, err := x509.ParseCertificate(st.Certificate)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(gatewayRoot(t))
	_, err = issued.Verify(x509.VerifyOptions{Roots: pool})
	require.NoError(t, err, "issued by the gateway CA")
	require.Equal(t, sha(issued.Raw), deviceSecrets(t, tenant, guid)["AMT_TLS_CERT_SHA256"], "pin moved")
	require.Equal(t, 1, d.ClockSyncs(), "AMT's clock set before TLS (§2.10 step 7)")

	// Reconfiguration (mutual mode now): pinned to the issued certificate, the context is replaced.
	setTLSMode(t, tenant, tenant+"_ccm", store.TLSModeMutual)
	res = e.run(t, d, rpc.Config{Command: rpc.ActivateCommand(tenant+"_ccm", false), Password: tenantPassword})
	require.True(t, res.OK(), res.Message)
	require.Equal(t, "Configured", res.StatusObject.TLSConfiguration)
	st = d.State().TLS
	require.Equal(t, amtsim.TLSSetting{Enabled: true, AcceptNonSecureConnections: true, MutualAuthentication: true}, st.Remote)
	require.NotEqual(t, issued.Raw, st.Certificate, "a new certificate")
	require.Equal(t, sha(st.Certificate), deviceSecrets(t, tenant, guid)["AMT_TLS_CERT_SHA256"])

	// Deactivation goes through the issued certificate; AMT then serves its own again and a new activation pins it.
	res = e.run(t, d, rpc.Config{Command: rpc.DeactivateCommand(tenantPassword, false), Password: tenantPassword})
	require.True(t, res.OK(), res.Message)
	require.Eventually(t, func() bool { return d.State().TLS == nil }, 5*time.Second, 10*time.Millisecond)
	setTLSMode(t, tenant, tenant+"_ccm", store.TLSModeNone)
	res = e.run(t, d, rpc.Config{Command: rpc.ActivateCommand(tenant+"_ccm", false)})
	require.True(t, res.OK(), res.Message)
	require.Equal(t, "Already configured", res.StatusObject.TLSConfiguration)
	require.Equal(t, pinOf(d), deviceSecrets(t, tenant, guid)["AMT_TLS_CERT_SHA256"])
}

// TestTLSConfigurationFails: the connection of AddCertificate is reset after the request was sent, so AMT never
// took it. The activation ends with a clear error; AMT still serves its own certificate, the stored pin is
// unchanged and the generated key pair is removed again.
func TestTLSConfigurationFails(t *testing.T) {
	e := tlsModeEnv(t)
	tenant := newTenant(t, "static")
	setTLSMode(t, tenant, tenant+"_ccm", store.TLSModeServer)
	d := tlsDevice(t, e, tenant, nil)
	d.InjectTLSDropOn("AddCertificate_INPUT")

	res := e.run(t, d, rpc.Config{Command: rpc.ActivateCommand(tenant+"_ccm", false)})
	require.False(t, res.OK())
	require.Contains(t, res.Message, "TLS configuration failed: AMT refused the issued certificate (AddCertificate)")
	require.Contains(t, res.Message, "reset")
	require.Nil(t, d.State().TLS)
	require.Zero(t, d.TLSConfig().KeyPairs, "generated key pair removed")
	for _, c := range d.CIRA().Certificates {
		require.True(t, c.TrustedRoot, "no TLS certificate left in AMT")
	}
	require.Equal(t, pinOf(d), deviceSecrets(t, tenant, d.GUID().String())["AMT_TLS_CERT_SHA256"], "pin unchanged")
	require.False(t, e.outcome(t).OK)
}

// Without an issuer a profile with a TLS mode fails clearly rather than skipping the TLS configuration.
func TestTLSConfigurationNoIssuer(t *testing.T) {
	e := tlsEnv(t, nil)
	tenant := newTenant(t, "static")
	setTLSMode(t, tenant, tenant+"_ccm", store.TLSModeServer)
	d := tlsDevice(t, e, tenant, nil)
	res := e.run(t, d, rpc.Config{Command: rpc.ActivateCommand(tenant+"_ccm", false)})
	require.False(t, res.OK())
	require.Contains(t, res.Message, "no CA to issue AMT's TLS certificate")
	require.Zero(t, d.TLSConfig().KeyPairs)
}

// Firmware that accepts no non-TLS connections next to TLS would cut the gateway off (16992): it is left alone.
func TestTLSConfigurationTLSOnlyFirmware(t *testing.T) {
	e := tlsModeEnv(t)
	tenant := newTenant(t, "static")
	setTLSMode(t, tenant, tenant+"_ccm", store.TLSModeServer)
	d := e.newDevice(t, tenant, amtsim.Config{TLSEnforced: true, TLSOnly: true, RolloverDelay: 300 * time.Millisecond})
	res := e.run(t, d, rpc.Config{Command: rpc.ActivateCommand(tenant+"_ccm", false)})
	require.False(t, res.OK())
	require.Contains(t, res.Message, "cannot accept non-TLS connections next to TLS")
	require.Zero(t, d.TLSConfig().KeyPairs, "nothing changed on AMT")
	require.Nil(t, d.State().TLS)
}
