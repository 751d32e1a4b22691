package domaincert_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/dmrm/dm-manager/internal/domaincert"
	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
)

// One case per failure kind: the error must be of that kind, its message must say the given things, and no
// message may contain the password.
func TestValidateFailures(t *testing.T) {
	p := certtest.New(t)
	now := time.Now()
	chain := func(leaf *x509.Certificate) []*x509.Certificate {
		return []*x509.Certificate{leaf, p.Intermediate, p.Root}
	}
	leafWith := func(edit func(*x509.Certificate)) *x509.Certificate {
		tmpl := certtest.AMTLeaf(certtest.LeafCN)
		edit(tmpl)
		return certtest.Issue(t, tmpl, &p.LeafKey.PublicKey, p.Intermediate, p.IntermediateKey)
	}
	pfx := func(key any, certs ...*x509.Certificate) []byte {
		return certtest.Encode(t, pkcs12.Modern, key, certs, certtest.Password)
	}

	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ecLeaf := certtest.Issue(t, certtest.AMTLeaf(certtest.LeafCN), &ecKey.PublicKey, p.Intermediate, p.IntermediateKey)

	weakKey, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	weakLeaf := certtest.Issue(t, certtest.AMTLeaf(certtest.LeafCN), &weakKey.PublicKey, p.Intermediate, p.IntermediateKey)

	// An intermediate with the right name but another key: the leaf's signature cannot verify with it.
	forged := certtest.Issue(t, certtest.CA("dm-manager test intermediate"), &certtest.Key(t, 3).PublicKey, p.Root, p.RootKey)
	otherRoot := certtest.Issue(t, certtest.CA("another root"), &certtest.Key(t, 3).PublicKey, nil, certtest.Key(t, 3))

	// root -> i1 -> i2 -> i3 -> leaf: five certificates.
	i2 := certtest.Issue(t, certtest.CA("i2"), &certtest.Key(t, 4).PublicKey, p.Intermediate, p.IntermediateKey)
	i3 := certtest.Issue(t, certtest.CA("i3"), &certtest.Key(t, 5).PublicKey, i2, certtest.Key(t, 4))
	deepLeaf := certtest.Issue(t, certtest.AMTLeaf(certtest.LeafCN), &p.LeafKey.PublicKey, i3, certtest.Key(t, 5))

	trustStore, err := pkcs12.Modern.EncodeTrustStore(chain(p.Leaf), certtest.Password)
	require.NoError(t, err)

	cases := []struct {
		name     string
		pfx      []byte
		password string
		suffix   string
		kind     error
		says     []string
	}{
		{name: "random bytes", pfx: []byte("this is not a pfx"), kind: domaincert.ErrNotPFX, says: []string{"PKCS#12"}},
		{name: "empty", pfx: nil, kind: domaincert.ErrNotPFX, says: []string{"empty"}},
		{name: "base64 text instead of bytes", pfx: []byte(base64.StdEncoding.EncodeToString(p.PFX(t, certtest.Password))),
			kind: domaincert.ErrNotPFX},
		{name: "wrong password", pfx: p.PFX(t, certtest.Password), password: "Wrong-Pa55", kind: domaincert.ErrWrongPassword,
			says: []string{"password"}},
		{name: "no private key", pfx: trustStore, kind: domaincert.ErrNoPrivateKey, says: []string{"private key"}},
		{name: "ECDSA key", pfx: pfx(ecKey, chain(ecLeaf)...), kind: domaincert.ErrNotRSA, says: []string{"ECDSA", "RSA"}},
		{name: "key of another certificate", pfx: pfx(certtest.Key(t, 3), chain(p.Leaf)...), kind: domaincert.ErrKeyMismatch,
			says: []string{"does not belong"}},
		{name: "no root", pfx: pfx(p.LeafKey, p.Leaf, p.Intermediate), kind: domaincert.ErrNoRoot, says: []string{"root"}},
		{name: "issuer missing", pfx: pfx(p.LeafKey, p.Leaf, otherRoot), kind: domaincert.ErrChainBroken,
			says: []string{"dm-manager test intermediate", "broken"}},
		{name: "bad signature", pfx: pfx(p.LeafKey, p.Leaf, forged, p.Root), kind: domaincert.ErrChainBroken,
			says: []string{"signature verification failed"}},
		{name: "chain too long", pfx: pfx(p.LeafKey, deepLeaf, i3, i2, p.Intermediate, p.Root), kind: domaincert.ErrChainTooLong,
			says: []string{"5 certificates", "at most 4"}},
		{name: "ECDSA in the chain", pfx: pfx(p.LeafKey, ecChain(t, p)...), kind: domaincert.ErrNotRSA, says: []string{"ECDSA"}},
		{name: "1024-bit leaf", pfx: pfx(weakKey, chain(weakLeaf)...), kind: domaincert.ErrWeakKey, says: []string{"1024-bit"}},
		{name: "no AMT marker", pfx: pfx(p.LeafKey, chain(leafWith(func(c *x509.Certificate) { c.UnknownExtKeyUsage = nil }))...),
			kind: domaincert.ErrMissingAMTMarker, says: []string{"2.16.840.1.113741.1.2.3"}},
		{name: "OU with wrong case", pfx: pfx(p.LeafKey, chain(leafWith(func(c *x509.Certificate) {
			c.UnknownExtKeyUsage = nil
			c.Subject.OrganizationalUnit = []string{strings.ToLower(domaincert.OUAMTProvisioning)}
		}))...), kind: domaincert.ErrMissingAMTMarker},
		{name: "expired", pfx: pfx(p.LeafKey, chain(leafWith(func(c *x509.Certificate) {
			c.NotBefore, c.NotAfter = now.AddDate(-2, 0, 0), now.AddDate(0, 0, -1)
		}))...), kind: domaincert.ErrExpired, says: []string{"expired at " + now.AddDate(0, 0, -1).UTC().Format("2006-01-02")}},
		{name: "not yet valid", pfx: pfx(p.LeafKey, chain(leafWith(func(c *x509.Certificate) {
			c.NotBefore = now.AddDate(0, 0, 3)
		}))...), kind: domaincert.ErrNotYetValid, says: []string{"starts at " + now.AddDate(0, 0, 3).UTC().Format("2006-01-02")}},
		{name: "no CN", pfx: pfx(p.LeafKey, chain(leafWith(func(c *x509.Certificate) { c.Subject.CommonName = "" }))...),
			kind: domaincert.ErrNoCommonName, says: []string{"Common Name"}},
		{name: "other domain", pfx: p.PFX(t, certtest.Password), suffix: "example.org", kind: domaincert.ErrSuffixMismatch,
			says: []string{"FQDN not associated", certtest.LeafCN, "example.org"}},
		{name: "suffix not a DNS name", pfx: p.PFX(t, certtest.Password), suffix: "exa mple.com",
			kind: domaincert.ErrInvalidSuffix},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			password := tc.password
			if password == "" {
				password = certtest.Password
			}
			suffix := tc.suffix
			if suffix == "" {
				suffix = certtest.Suffix
			}
			c, err := domaincert.Validate(tc.pfx, password, suffix, now)
			require.Nil(t, c)
			require.ErrorIs(t, err, tc.kind)
			var verr *domaincert.Error
			require.ErrorAs(t, err, &verr)
			for _, s := range tc.says {
				require.Contains(t, err.Error(), s)
			}
			require.NotContains(t, err.Error(), password)
		})
	}
}

// ecChain: an RSA leaf issued by an ECDSA intermediate.
func ecChain(t *testing.T, p *certtest.PKI) []*x509.Certificate {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	inter := certtest.Issue(t, certtest.CA("ec intermediate"), &ecKey.PublicKey, p.Root, p.RootKey)
	leaf := certtest.Issue(t, certtest.AMTLeaf(certtest.LeafCN), &p.LeafKey.PublicKey, inter, ecKey)
	return []*x509.Certificate{leaf, inter, p.Root}
}
