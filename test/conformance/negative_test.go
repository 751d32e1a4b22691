package conformance

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
	"github.com/dmrm/dm-manager/test/amtsim"
)

const (
	hbsAddCert    = "IPS_HostBasedSetupService.AddNextCertInChain"
	hbsSetup      = "IPS_HostBasedSetupService.Setup"
	hbsAdminSetup = "IPS_HostBasedSetupService.AdminSetup"
	hbsUpgrade    = "IPS_HostBasedSetupService.UpgradeClientToAdmin"
)

// leafWithoutEKU is a server certificate from the test intermediate without the AMT activation EKU or OU.
func leafWithoutEKU(t *testing.T, pki *certtest.PKI) *x509.Certificate {
	tmpl := certtest.AMTLeaf(certtest.LeafCN)
	tmpl.UnknownExtKeyUsage = nil
	return certtest.Issue(t, tmpl, &pki.LeafKey.PublicKey, pki.Intermediate, pki.IntermediateKey)
}

// signedSetup builds AdminSetup inputs over the device's current nonce with key.
func signedSetup(ctx context.Context, t *testing.T, c *amt.Client, realm string, key *certtest.PKI) amt.AdminSetupRequest {
	t.Helper()
	hbs, err := c.HostBasedSetupService(ctx)
	require.NoError(t, err)
	fw, err := hbs.FirmwareNonce()
	require.NoError(t, err)
	mc, err := amt.NewMcNonce()
	require.NoError(t, err)
	sig, err := amt.SignNonces(key.LeafKey, fw, mc)
	require.NoError(t, err)
	return amt.AdminSetupRequest{PasswordHash: amt.AdminPasswordHash(realm, adminPassword), McNonce: mc, Signature: sig}
}

// TestProvisioningChainRejected: AMT verifies the provisioning chain (§2.4 step 6 and the firmware checks listed
// after the ACM table): each failure is a typed ReturnValue error from the certificate-chain table.
func TestProvisioningChainRejected(t *testing.T) {
	pki := certtest.New(t)
	rogueKey := certtest.Key(t, 3)
	rogueRoot := certtest.Issue(t, certtest.CA("untrusted root"), &rogueKey.PublicKey, nil, rogueKey)
	rogueLeaf := certtest.Issue(t, certtest.AMTLeaf(certtest.LeafCN), &pki.LeafKey.PublicKey, rogueRoot, rogueKey)

	type send struct {
		der          []byte
		leaf, isRoot bool
	}
	for _, tc := range []struct {
		name   string
		suffix string
		chain  []send
		value  uint32
		label  string
	}{
		{"untrusted root", certtest.Suffix,
			[]send{{rogueLeaf.Raw, true, false}, {rogueRoot.Raw, false, true}}, 4, "CERT_VERIFY_FAILED"},
		{"leaf without the AMT EKU", certtest.Suffix,
			[]send{{leafWithoutEKU(t, pki).Raw, true, false}}, 4, "CERT_VERIFY_FAILED"},
		{"leaf domain does not match the DNS suffix", "other.test",
			[]send{{pki.Leaf.Raw, true, false}}, 4, "CERT_VERIFY_FAILED"},
		{"root not issuing the intermediate", certtest.Suffix,
			[]send{{pki.Leaf.Raw, true, false}, {pki.Intermediate.Raw, false, false}, {rogueRoot.Raw, false, true}},
			4, "CERT_VERIFY_FAILED"},
		{"intermediate before the leaf", certtest.Suffix,
			[]send{{pki.Intermediate.Raw, false, false}}, 3, "INVALID_STATE"},
		{"not a certificate", certtest.Suffix, []send{{[]byte("not DER"), true, false}}, 1, "INVALID_PARAM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			r := newRig(t)
			r.dev.SetDNSSuffix(tc.suffix)
			c := r.lsaClient()
			last := len(tc.chain) - 1
			for _, s := range tc.chain[:last] {
				require.NoError(t, c.AddNextCertInChain(ctx, s.der, s.leaf, s.isRoot))
			}
			s := tc.chain[last]
			err := c.AddNextCertInChain(ctx, s.der, s.leaf, s.isRoot)
			requireReturnValue(t, err, hbsAddCert, tc.value, tc.label)

			// Without a complete chain AdminSetup is refused.
			gs, err := c.GeneralSettings(ctx)
			require.NoError(t, err)
			err = c.AdminSetup(ctx, signedSetup(ctx, t, c, gs.DigestRealm, pki))
			requireReturnValue(t, err, hbsAdminSetup, 2, "INVALID_STATE")
			require.Equal(t, amtsim.PreProvisioning, r.dev.Mode())
		})
	}
}

// TestProvisioningChainTooLong: more than four certificates (§2.4 step 2 "supports ≤4").
func TestProvisioningChainTooLong(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	keys := []int{4, 5, 6, 7}
	root := certtest.Issue(t, certtest.CA("long root"), &certtest.Key(t, keys[0]).PublicKey, nil, certtest.Key(t, keys[0]))
	chain := []*x509.Certificate{root}
	for i, k := range keys[1:] {
		parent := chain[0]
		ca := certtest.Issue(t, certtest.CA("long intermediate "+string(rune('A'+i))), &certtest.Key(t, k).PublicKey,
			parent, certtest.Key(t, keys[i]))
		chain = append([]*x509.Certificate{ca}, chain...)
	}
	leaf := certtest.Issue(t, certtest.AMTLeaf(certtest.LeafCN), &certtest.Key(t, 2).PublicKey, chain[0], certtest.Key(t, keys[3]))
	chain = append([]*x509.Certificate{leaf}, chain...)
	require.Len(t, chain, 5)
	r.dev.AddRootHash(amtsim.NewRootHash("long root", root.Raw))

	c := r.lsaClient()
	require.NoError(t, c.AddNextCertInChain(ctx, chain[0].Raw, true, false))
	for _, ca := range chain[1:4] {
		require.NoError(t, c.AddNextCertInChain(ctx, ca.Raw, false, false))
	}
	err := c.AddNextCertInChain(ctx, chain[4].Raw, false, true)
	requireReturnValue(t, err, hbsAddCert, 5, "CERT_CHAIN_LENGTH_EXCEEDED")
}

// TestAdminSetupBadSignature: a signature that does not verify against the leaf is AUTH_FAILED, and AdminSetup
// is one-shot (§2.4 step 7): the chain and nonce are consumed, so a correct retry needs the chain again.
func TestAdminSetupBadSignature(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	c := r.lsaClient()
	gs, err := c.GeneralSettings(ctx)
	require.NoError(t, err)
	rogue := &certtest.PKI{LeafKey: certtest.Key(t, 3)}

	sendChain(ctx, t, c, r.pki)
	valid := signedSetup(ctx, t, c, gs.DigestRealm, r.pki) // over the current nonce, not sent yet
	err = c.AdminSetup(ctx, signedSetup(ctx, t, c, gs.DigestRealm, rogue))
	requireReturnValue(t, err, hbsAdminSetup, 5, "AUTH_FAILED")

	// The failed attempt consumed the chain…
	err = c.AdminSetup(ctx, valid)
	requireReturnValue(t, err, hbsAdminSetup, 2, "INVALID_STATE")
	// …and the nonce: a signature over the old one no longer verifies.
	sendChain(ctx, t, c, r.pki)
	err = c.AdminSetup(ctx, valid)
	requireReturnValue(t, err, hbsAdminSetup, 5, "AUTH_FAILED")
	require.Equal(t, amtsim.PreProvisioning, r.dev.Mode())

	sendChain(ctx, t, c, r.pki)
	require.NoError(t, c.AdminSetup(ctx, signedSetup(ctx, t, c, gs.DigestRealm, r.pki)))
	require.Equal(t, amtsim.AdminControl, r.dev.Mode())
}

// TestWrongMode: methods called in a control mode where they do not apply.
func TestWrongMode(t *testing.T) {
	ctx := testContext(t)

	t.Run("pre-provisioning", func(t *testing.T) {
		r := newRig(t)
		c := r.lsaClient()
		mc, err := amt.NewMcNonce()
		require.NoError(t, err)
		err = c.UpgradeClientToAdmin(ctx, mc, []byte("signature"))
		requireReturnValue(t, err, hbsUpgrade, 2, "INVALID_STATE")
		err = c.Unprovision(ctx)
		requireReturnValue(t, err, "AMT_SetupAndConfigurationService.Unprovision", 16, "NOT_PERMITTED")
		err = c.SetAdminAclEntryEx(ctx, "admin", amt.AdminDigestPassword(r.dev.DigestRealm(), adminPassword))
		requireReturnValue(t, err, "AMT_AuthorizationService.SetAdminAclEntryEx", 16, "NOT_PERMITTED")
		gs, err := c.GeneralSettings(ctx)
		require.NoError(t, err)
		err = c.Setup(ctx, strings.ToUpper(amt.AdminPasswordHash(gs.DigestRealm, adminPassword)))
		requireReturnValue(t, err, hbsSetup, 3, "INVALID_PARAM")
	})

	t.Run("CCM", func(t *testing.T) {
		r := newRig(t)
		r.activateCCM(ctx)
		c := r.admin(true)
		err := c.Setup(ctx, amt.AdminPasswordHash(r.dev.DigestRealm(), adminPassword))
		requireReturnValue(t, err, hbsSetup, 2, "INVALID_STATE")
		sendChain(ctx, t, c, r.pki)
		err = c.AdminSetup(ctx, signedSetup(ctx, t, c, r.dev.DigestRealm(), r.pki))
		requireReturnValue(t, err, hbsAdminSetup, 2, "INVALID_STATE")
		err = c.SetMEBxPassword(ctx, "MEBx-Pa55!")
		requireReturnValue(t, err, "AMT_SetupAndConfigurationService.SetMEBxPassword", 16, "NOT_PERMITTED")
		require.Equal(t, amtsim.ClientControl, r.dev.Mode())
	})

	t.Run("ACM", func(t *testing.T) {
		r := newRig(t)
		r.activateACM(ctx)
		c := r.admin(true)
		err := c.Setup(ctx, amt.AdminPasswordHash(r.dev.DigestRealm(), adminPassword))
		requireReturnValue(t, err, hbsSetup, 2, "INVALID_STATE")
		err = c.AddNextCertInChain(ctx, r.pki.Leaf.Raw, true, false)
		requireReturnValue(t, err, hbsAddCert, 3, "INVALID_STATE")
		mc, err := amt.NewMcNonce()
		require.NoError(t, err)
		err = c.UpgradeClientToAdmin(ctx, mc, []byte("signature"))
		requireReturnValue(t, err, hbsUpgrade, 2, "INVALID_STATE")
		require.Equal(t, amtsim.AdminControl, r.dev.Mode())
	})

	t.Run("host-based setup from the network side", func(t *testing.T) {
		r := newRig(t)
		r.activateCCM(ctx)
		err := r.admin(false).Setup(ctx, amt.AdminPasswordHash(r.dev.DigestRealm(), adminPassword))
		var fault *wsman.FaultError
		require.ErrorAs(t, err, &fault)
		require.Equal(t, "Sender", fault.Code)
		require.Equal(t, "AccessDenied", fault.Subcode)
	})
}
