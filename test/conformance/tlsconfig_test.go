package conformance

import (
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
	"github.com/dmrm/dm-manager/test/amtsim"
)

// TestTLSConfiguration round-trips the post-provisioning TLS configuration (protocol-rps-activation §2.10)
// between dmtclient/amt and the simulator: AMT generates a key pair, takes a leaf signed over its public key,
// binds it with a credential context (WS-Transfer Create), and applies the TLS settings at CommitChanges.
func TestTLSConfiguration(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)
	c := r.admin(false)

	_, err := c.GenerateKeyPair(ctx, 1024)
	var rv *wsman.ReturnValueError
	require.ErrorAs(t, err, &rv, "AMT generates 2048-bit keys only")

	id, err := c.GenerateKeyPair(ctx, amt.KeyLength2048)
	require.NoError(t, err)
	pairs, err := c.KeyPairs(ctx)
	require.NoError(t, err)
	require.Len(t, pairs, 1)
	require.Equal(t, id, pairs[0].InstanceID)
	pub, err := pairs[0].PublicKey()
	require.NoError(t, err)
	require.Equal(t, 2048, pub.N.BitLen())

	// A certificate over a key AMT does not hold is refused, and nothing is stored.
	other := certtest.Issue(t, certtest.AMTLeaf("other"), &certtest.Key(t, 3).PublicKey, r.pki.Root, r.pki.RootKey)
	_, err = c.AddCertificate(ctx, other.Raw)
	require.ErrorAs(t, err, &rv)
	require.Empty(t, r.dev.CIRA().Certificates)

	leaf := certtest.Issue(t, certtest.AMTLeaf("amt-tls"), pub, r.pki.Root, r.pki.RootKey)
	certID, err := c.AddCertificate(ctx, leaf.Raw)
	require.NoError(t, err)

	settings, err := c.TLSSettings(ctx)
	require.NoError(t, err)
	require.Len(t, settings, 2)
	remote := settings[0]
	if !remote.Remote() {
		remote = settings[1]
	}
	remote.Enabled, remote.AcceptNonSecureConnections = true, true
	var fault *wsman.FaultError
	require.ErrorAs(t, c.PutTLSSettings(ctx, remote), &fault, "TLS needs a credential context first")

	require.NoError(t, c.CreateTLSCredentialContext(ctx, certID))
	err = c.CreateTLSCredentialContext(ctx, certID)
	require.True(t, errors.As(err, &fault), "a second context: %v", err)
	require.Equal(t, "AlreadyExists", fault.Subcode)

	for _, s := range settings {
		s.Enabled, s.AcceptNonSecureConnections = true, true
		require.NoError(t, c.PutTLSSettings(ctx, s))
	}
	require.Nil(t, r.dev.State().TLS, "settings apply at CommitChanges")
	require.NoError(t, c.CommitChanges(ctx))
	st := r.dev.State().TLS
	require.NotNil(t, st)
	require.True(t, st.Remote.Enabled && st.Remote.AcceptNonSecureConnections && !st.Remote.MutualAuthentication)
	require.True(t, st.Local.Enabled)
	served, err := x509.ParseCertificate(st.Certificate)
	require.NoError(t, err)
	require.Equal(t, leaf.Raw, served.Raw)
	r.clock.Advance(time.Minute) // past the rollover

	again, err := c.TLSSettings(ctx)
	require.NoError(t, err)
	for _, s := range again {
		require.True(t, s.Enabled, s.InstanceID)
	}

	// Reconfiguration: a second key and certificate, the existing context pointed at it with Put; a key pair no
	// certificate uses can be deleted, one in use cannot.
	n, err := c.TLSCredentialContexts(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	id2, err := c.GenerateKeyPair(ctx, amt.KeyLength2048)
	require.NoError(t, err)
	pairs, err = c.KeyPairs(ctx)
	require.NoError(t, err)
	require.Len(t, pairs, 2)
	spare, err := c.GenerateKeyPair(ctx, amt.KeyLength2048)
	require.NoError(t, err)
	require.NoError(t, c.DeleteKeyPair(ctx, spare))
	require.Error(t, c.DeleteKeyPair(ctx, id), "the key of a stored certificate stays")
	var pub2 *amt.KeyPair
	for i := range pairs {
		if pairs[i].InstanceID == id2 {
			pub2 = &pairs[i]
		}
	}
	require.NotNil(t, pub2)
	k2, err := pub2.PublicKey()
	require.NoError(t, err)
	leaf2 := certtest.Issue(t, certtest.AMTLeaf("amt-tls-2"), k2, r.pki.Root, r.pki.RootKey)
	cert2, err := c.AddCertificate(ctx, leaf2.Raw)
	require.NoError(t, err)
	require.NoError(t, c.PutTLSCredentialContext(ctx, cert2))
	require.NoError(t, c.CommitChanges(ctx))
	require.Equal(t, leaf2.Raw, r.dev.State().TLS.Certificate)
}

// TestTLSOnlyFirmware: firmware reporting NonSecureConnectionsSupported=false refuses non-TLS connections next to
// TLS on its network interface; dmtclient reads the property.
func TestTLSOnlyFirmware(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t, func(c *amtsim.Config) { c.TLSOnly = true })
	r.activateCCM(ctx)
	c := r.admin(false)
	id, err := c.GenerateKeyPair(ctx, amt.KeyLength2048)
	require.NoError(t, err)
	pairs, err := c.KeyPairs(ctx)
	require.NoError(t, err)
	require.Equal(t, id, pairs[0].InstanceID)
	pub, err := pairs[0].PublicKey()
	require.NoError(t, err)
	certID, err := c.AddCertificate(ctx, certtest.Issue(t, certtest.AMTLeaf("amt-tls"), pub, r.pki.Root, r.pki.RootKey).Raw)
	require.NoError(t, err)
	require.NoError(t, c.CreateTLSCredentialContext(ctx, certID))

	settings, err := c.TLSSettings(ctx)
	require.NoError(t, err)
	for _, s := range settings {
		if !s.Remote() {
			require.Nil(t, s.NonSecureConnectionsSupported, "reported on the network setting only")
			continue
		}
		require.NotNil(t, s.NonSecureConnectionsSupported)
		require.False(t, *s.NonSecureConnectionsSupported)
		s.Enabled, s.AcceptNonSecureConnections = true, true
		var fault *wsman.FaultError
		require.ErrorAs(t, c.PutTLSSettings(ctx, s), &fault)
		s.AcceptNonSecureConnections = false
		require.NoError(t, c.PutTLSSettings(ctx, s))
	}
}
