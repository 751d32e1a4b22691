package domaincert_test

import (
	"crypto/md5"  //nolint:gosec // expected fingerprints
	"crypto/sha1" //nolint:gosec // expected fingerprints
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/dmrm/dm-manager/internal/domaincert"
	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
)

func hexSum(b []byte, f func([]byte) []byte) string { return hex.EncodeToString(f(b)) }

func sum1(b []byte) []byte   { s := sha1.Sum(b); return s[:] } //nolint:gosec
func sum256(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
func sum384(b []byte) []byte { s := sha512.Sum384(b); return s[:] }

func TestValidateEncoders(t *testing.T) {
	p := certtest.New(t)
	certs := []*x509.Certificate{p.Leaf, p.Intermediate, p.Root}
	for name, enc := range map[string]*pkcs12.Encoder{
		"modern": pkcs12.Modern, "legacy-des": pkcs12.LegacyDES, "legacy-rc2": pkcs12.LegacyRC2,
	} {
		t.Run(name, func(t *testing.T) {
			pfx := certtest.Encode(t, enc, p.LeafKey, certs, certtest.Password)
			c, err := domaincert.Validate(pfx, certtest.Password, certtest.Suffix, time.Now())
			require.NoError(t, err)
			require.Equal(t, p.Leaf.Raw, c.Leaf)
			require.Equal(t, [][]byte{p.Intermediate.Raw}, c.Intermediates)
			require.Equal(t, p.Root.Raw, c.Root)
			require.Equal(t, [][]byte{p.Leaf.Raw, p.Intermediate.Raw, p.Root.Raw}, c.Chain())
			require.True(t, c.Key.Equal(p.LeafKey))
			require.Equal(t, certtest.LeafCN, c.CommonName)
			require.Equal(t, domaincert.MarkerEKU, c.Marker)
			require.Equal(t, hexSum(p.Leaf.Raw, sum256), c.LeafSHA256)
			require.Equal(t, hexSum(p.Root.Raw, sum1), c.RootSHA1)
			require.Equal(t, hexSum(p.Root.Raw, sum256), c.RootSHA256)
			require.Equal(t, hexSum(p.Root.Raw, sum384), c.RootSHA384)
			require.True(t, c.NotAfter.Equal(p.Leaf.NotAfter), "earliest notAfter is the leaf's")
			require.True(t, c.NotBefore.Equal(p.Leaf.NotBefore))
		})
	}
}

// TestMatchesRootHash: every digest length AMT reports (MD5, SHA-1, SHA-256, SHA-384, SHA-512) matches the root's,
// in any case and with surrounding space; a truncated digest, the leaf's or an empty list does not.
func TestMatchesRootHash(t *testing.T) {
	p := certtest.New(t)
	c, err := domaincert.Validate(p.PFX(t, certtest.Password), certtest.Password, certtest.Suffix, time.Now())
	require.NoError(t, err)
	m5, s1, s512 := md5.Sum(c.Root), sha1.Sum(c.Root), sha512.Sum512(c.Root) //nolint:gosec // digests AMT reports
	for _, h := range []string{hex.EncodeToString(m5[:]), c.RootSHA1, c.RootSHA256, strings.ToUpper(c.RootSHA384),
		" " + c.RootSHA256 + " ", hex.EncodeToString(s1[:]), hex.EncodeToString(s512[:])} {
		require.True(t, c.MatchesRootHash(h), h)
		require.True(t, c.TrustedBy([]string{"00", h}), h)
	}
	for _, h := range []string{c.LeafSHA256, "", "00", c.RootSHA256[:40], c.RootSHA1 + "00", c.RootSHA256[:62]} {
		require.False(t, c.MatchesRootHash(h), h)
	}
	require.False(t, c.TrustedBy(nil))
	require.False(t, c.TrustedBy([]string{c.LeafSHA256}))
}

func TestValidateBagOrderDoesNotMatter(t *testing.T) {
	p := certtest.New(t)
	stranger := certtest.Issue(t, certtest.CA("unrelated root"), &certtest.Key(t, 3).PublicKey, nil, certtest.Key(t, 3))
	for name, certs := range map[string][]*x509.Certificate{
		"root first":         {p.Root, p.Leaf, p.Intermediate},
		"intermediate first": {p.Intermediate, p.Root, p.Leaf},
		"unrelated extra":    {p.Leaf, stranger, p.Root, p.Intermediate},
	} {
		t.Run(name, func(t *testing.T) {
			pfx := certtest.Encode(t, pkcs12.Modern, p.LeafKey, certs, certtest.Password)
			c, err := domaincert.Validate(pfx, certtest.Password, certtest.Suffix, time.Now())
			require.NoError(t, err)
			require.Equal(t, [][]byte{p.Leaf.Raw, p.Intermediate.Raw, p.Root.Raw}, c.Chain())
		})
	}
}

func TestValidateShortChains(t *testing.T) {
	// Leaf issued by the root directly: chain of two, as the RPS sample certificate (§7.6).
	p := certtest.New(t)
	leaf := certtest.Issue(t, certtest.AMTLeaf(certtest.LeafCN), &p.LeafKey.PublicKey, p.Root, p.RootKey)
	pfx := certtest.Encode(t, pkcs12.Modern, p.LeafKey, []*x509.Certificate{leaf, p.Root}, certtest.Password)
	c, err := domaincert.Validate(pfx, certtest.Password, certtest.Suffix, time.Now())
	require.NoError(t, err)
	require.Equal(t, [][]byte{leaf.Raw, p.Root.Raw}, c.Chain())
	require.Empty(t, c.Intermediates)

	// A self-signed provisioning certificate is its own root and is sent once.
	self := certtest.AMTLeaf(certtest.LeafCN)
	self.IsCA, self.BasicConstraintsValid = true, true
	selfCert := certtest.Issue(t, self, &p.LeafKey.PublicKey, nil, p.LeafKey)
	pfx = certtest.Encode(t, pkcs12.Modern, p.LeafKey, []*x509.Certificate{selfCert}, certtest.Password)
	c, err = domaincert.Validate(pfx, certtest.Password, certtest.Suffix, time.Now())
	require.NoError(t, err)
	require.Equal(t, [][]byte{selfCert.Raw}, c.Chain())
	require.Equal(t, hexSum(selfCert.Raw, sum256), c.RootSHA256)
}

func TestValidateOUMarker(t *testing.T) {
	p := certtest.New(t)
	tmpl := certtest.AMTLeaf(certtest.LeafCN)
	tmpl.UnknownExtKeyUsage = nil
	tmpl.Subject.OrganizationalUnit = []string{domaincert.OUAMTProvisioning}
	leaf := certtest.Issue(t, tmpl, &p.LeafKey.PublicKey, p.Intermediate, p.IntermediateKey)
	pfx := certtest.Encode(t, pkcs12.Modern, p.LeafKey, []*x509.Certificate{leaf, p.Intermediate, p.Root}, certtest.Password)
	c, err := domaincert.Validate(pfx, certtest.Password, certtest.Suffix, time.Now())
	require.NoError(t, err)
	require.Equal(t, domaincert.MarkerOU, c.Marker)
}

func TestSuffixMatches(t *testing.T) {
	for _, tc := range []struct {
		cn, suffix string
		want       bool
	}{
		{"intel.vprodemo.com", "vprodemo.com", true}, // the RPS sample (§7.6)
		{"intel.vprodemo.com", "intel.vprodemo.com", true},
		{"intel.vprodemo.com", "sales.vprodemo.com", true},
		{"intel.vprodemo.com", "a.b.vprodemo.com", true},
		{"INTEL.VProDemo.com", "vprodemo.COM.", true},
		{"*.vprodemo.com", "vprodemo.com", true},
		{"vprodemo.com", "vprodemo.com", true},
		{"intel.vprodemo.com", "vprodemo.org", false},
		{"intel.vprodemo.com", "example.com", false},
		{"intel.vprodemo.com", "com", false},
		{"localhost", "localhost", false},
		{"", "vprodemo.com", false},
		{"intel.vprodemo.com.", "xvprodemo.com", false},
	} {
		require.Equal(t, tc.want, domaincert.SuffixMatches(tc.cn, tc.suffix), "%s vs %s", tc.cn, tc.suffix)
	}
}

func TestNormalizeSuffix(t *testing.T) {
	for in, want := range map[string]string{"Example.COM": "example.com", "a-b.example.com.": "a-b.example.com"} {
		got, err := domaincert.NormalizeSuffix(in)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	for _, bad := range []string{"", "com", "exa mple.com", "-a.example.com", "a..example.com", "a_b.example.com",
		strings.Repeat("a", 64) + ".com", strings.Repeat("a.", 127) + "com"} {
		_, err := domaincert.NormalizeSuffix(bad)
		require.ErrorIs(t, err, domaincert.ErrInvalidSuffix, bad)
	}
}
