package amtsim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // AMT hash tables carry SHA-1 entries
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// addChain sends the chain as RPS does: leaf (leaf=true), middle (false/false), root
// (false/true) (protocol-rps-activation §2.4 step 6). It returns the ReturnValues.
func addChain(c *wsclient, certs ...*x509.Certificate) []int {
	var out []int
	for i, cert := range certs {
		leaf, root := i == 0, i == len(certs)-1 && i > 0
		rv, _ := c.method(hbsURI, "AddNextCertInChain", `<h:NextCertificate>`+b64(cert.Raw)+
			`</h:NextCertificate><h:IsLeafCertificate>`+strconv.FormatBool(leaf)+
			`</h:IsLeafCertificate><h:IsRootCertificate>`+strconv.FormatBool(root)+`</h:IsRootCertificate>`)
		out = append(out, rv)
	}
	return out
}

// signNonce reads ConfigurationNonce and signs fwNonce‖mcNonce with key (§2.4 step 7).
func signNonce(t *testing.T, c *wsclient, key *rsa.PrivateKey) (mc, sig string) {
	get := c.call("http://schemas.xmlsoap.org/ws/2004/09/transfer/Get", hbsURI, "", "")
	fw, err := base64.StdEncoding.DecodeString(find(get, "Body", "IPS_HostBasedSetupService", "ConfigurationNonce").Value())
	require.NoError(t, err)
	require.Len(t, fw, 20)
	mcNonce := make([]byte, 20)
	_, _ = rand.Read(mcNonce)
	sum := sha256.Sum256(append(append([]byte(nil), fw...), mcNonce...))
	s, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	require.NoError(t, err)
	return b64(mcNonce), b64(s)
}

func adminSetup(t *testing.T, c *wsclient, d *Device, mc, sig string, alg int) int {
	rv, _ := c.method(hbsURI, "AdminSetup", `<h:NetAdminPassEncryptionType>2</h:NetAdminPassEncryptionType><h:NetworkAdminPassword>`+
		md5hex("admin:"+d.DigestRealm()+":"+testPassword)+`</h:NetworkAdminPassword><h:McNonce>`+mc+
		`</h:McNonce><h:SigningAlgorithm>`+strconv.Itoa(alg)+`</h:SigningAlgorithm><h:DigitalSignature>`+sig+`</h:DigitalSignature>`)
	return rv
}

func TestAdminSetup(t *testing.T) {
	p := testCA()
	good := p.leaf("intel."+testSuffix, true, "")
	sha1Of := func(b []byte) []byte { s := sha1.Sum(b); return s[:] } //nolint:gosec // table entry form
	sha384Of := func(b []byte) []byte { s := sha512.Sum384(b); return s[:] }
	expired := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "intel." + testSuffix},
		UnknownExtKeyUsage: good.UnknownExtKeyUsage,
		NotBefore:          time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)}, p.inter, p.interKey, p.leafKey)

	tests := []struct {
		name      string
		suffix    string
		hashes    []RootHash // nil: default table + test root SHA-256
		chain     []*x509.Certificate
		wantChain []int
		signWith  *rsa.PrivateKey
		alg       int
		wantRV    int
	}{
		{name: "eku leaf, intermediate, trusted root", chain: []*x509.Certificate{good, p.inter, p.root}, wantChain: []int{0, 0, 0}, wantRV: 0},
		{name: "ou marker instead of eku", chain: []*x509.Certificate{p.leaf("intel."+testSuffix, false, ouClientSetup), p.inter, p.root}, wantChain: []int{0, 0, 0}, wantRV: 0},
		{name: "root trusted by sha-1", hashes: []RootHash{{Hash: sha1Of(p.root.Raw), Active: true}}, chain: []*x509.Certificate{good, p.inter, p.root}, wantChain: []int{0, 0, 0}, wantRV: 0},
		{name: "root trusted by sha-384", hashes: []RootHash{{Hash: sha384Of(p.root.Raw), Active: true}}, chain: []*x509.Certificate{good, p.inter, p.root}, wantChain: []int{0, 0, 0}, wantRV: 0},
		{name: "device suffix below the cert domain", suffix: "a.b." + testSuffix, chain: []*x509.Certificate{good, p.inter, p.root}, wantChain: []int{0, 0, 0}, wantRV: 0},
		{name: "untrusted root", hashes: DefaultRootHashes(), chain: []*x509.Certificate{good, p.inter, p.root}, wantChain: []int{0, 0, certVerifyFailed}, wantRV: setupInvalidState},
		{name: "inactive hash", hashes: []RootHash{{Hash: sha1Of(p.root.Raw)}}, chain: []*x509.Certificate{good, p.inter, p.root}, wantChain: []int{0, 0, certVerifyFailed}, wantRV: setupInvalidState},
		{name: "leaf without eku or ou", chain: []*x509.Certificate{p.leaf("intel."+testSuffix, false, "")}, wantChain: []int{certVerifyFailed}, wantRV: setupInvalidState},
		{name: "leaf cn in another domain", chain: []*x509.Certificate{p.leaf("intel.other.test", true, "")}, wantChain: []int{certVerifyFailed}, wantRV: setupInvalidState},
		{name: "expired leaf", chain: []*x509.Certificate{expired}, wantChain: []int{certVerifyFailed}, wantRV: setupInvalidState},
		{name: "intermediate skipped", chain: []*x509.Certificate{good, p.root}, wantChain: []int{0, certVerifyFailed}, wantRV: setupInvalidState},
		{name: "chain not finished", chain: []*x509.Certificate{good, p.inter}, wantChain: []int{0, certVerifyFailed}, wantRV: setupInvalidState},
		{name: "signed with another key", chain: []*x509.Certificate{good, p.inter, p.root}, wantChain: []int{0, 0, 0}, signWith: p.rootKey, wantRV: setupAuthFailed},
		{name: "sha-1 signing algorithm", chain: []*x509.Certificate{good, p.inter, p.root}, wantChain: []int{0, 0, 0}, alg: 1, wantRV: setupInvalidParam},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDevice(t, func(c *Config) {
				if tt.suffix != "" {
					c.DNSSuffix = tt.suffix
				}
			})
			if tt.hashes != nil {
				d.lock()
				d.hashes = tt.hashes
				d.unlock()
			}
			c := lsaClient(t, d)
			require.Equal(t, tt.wantChain, addChain(c, tt.chain...))
			key := tt.signWith
			if key == nil {
				key = p.leafKey
			}
			alg := tt.alg
			if alg == 0 {
				alg = signingRSASHA256
			}
			mc, sig := signNonce(t, c, key)
			require.Equal(t, tt.wantRV, adminSetup(t, c, d, mc, sig, alg))
			want := PreProvisioning
			if tt.wantRV == 0 {
				want = AdminControl
				require.True(t, d.AdminPasswordIs(testPassword))
			}
			require.Equal(t, want, d.Mode())
		})
	}
}

func TestAdminSetupIsOneShot(t *testing.T) {
	p := testCA()
	d := newTestDevice(t)
	c := lsaClient(t, d)
	require.Equal(t, []int{0, 0, 0}, addChain(c, p.leaf("intel."+testSuffix, true, ""), p.inter, p.root))
	mc, sig := signNonce(t, c, p.rootKey)
	require.Equal(t, setupAuthFailed, adminSetup(t, c, d, mc, sig, signingRSASHA256))
	// The chain and nonce were consumed: a replay finds no chain.
	require.Equal(t, setupInvalidState, adminSetup(t, c, d, mc, sig, signingRSASHA256))
	require.Equal(t, []int{0, 0, 0}, addChain(c, p.leaf("intel."+testSuffix, true, ""), p.inter, p.root))
	// A signature over the previous nonce no longer verifies.
	require.Equal(t, setupAuthFailed, adminSetup(t, c, d, mc, sig, signingRSASHA256))
}

func TestAdminSetupWrongMode(t *testing.T) {
	p := testCA()
	d := newTestDevice(t)
	ccm(t, d)
	c := newClient(t, d, true, "admin", testPassword)
	require.Equal(t, []int{0, 0, 0}, addChain(c, p.leaf("intel."+testSuffix, true, ""), p.inter, p.root))
	mc, sig := signNonce(t, c, p.leafKey)
	require.Equal(t, setupInvalidState, adminSetup(t, c, d, mc, sig, signingRSASHA256))
	require.Equal(t, ClientControl, d.Mode())
}

func TestUpgradeClientToAdmin(t *testing.T) {
	p := testCA()
	d := newTestDevice(t)
	ccm(t, d)
	remote := newClient(t, d, false, "admin", testPassword)
	status, root := remote.post(hbsURI+"/UpgradeClientToAdmin", hbsURI, "",
		`<h:UpgradeClientToAdmin_INPUT xmlns:h="`+hbsURI+`"></h:UpgradeClientToAdmin_INPUT>`)
	require.Equal(t, 400, status, "host-based setup is refused from the network")
	require.Contains(t, faultText(root), "AccessDenied")

	c := newClient(t, d, true, "admin", testPassword)
	require.Equal(t, []int{0, 0, 0}, addChain(c, p.leaf("intel."+testSuffix, true, ""), p.inter, p.root))
	mc, sig := signNonce(t, c, p.leafKey)
	rv, _ := c.method(hbsURI, "UpgradeClientToAdmin", `<h:McNonce>`+mc+`</h:McNonce><h:SigningAlgorithm>2</h:SigningAlgorithm><h:DigitalSignature>`+sig+`</h:DigitalSignature>`)
	require.Equal(t, 0, rv)
	require.Equal(t, AdminControl, d.Mode())
	require.True(t, d.AdminPasswordIs(testPassword))
}

func TestDomainMatches(t *testing.T) {
	tests := []struct {
		cn, suffix string
		want       bool
	}{
		{"intel.vprodemo.com", "vprodemo.com", true},
		{"intel.vprodemo.com", "a.b.vprodemo.com", true},
		{"vprodemo.com", "vprodemo.com", true},
		{"*.vprodemo.com", "vprodemo.com", true},
		{"INTEL.VPRODEMO.COM", "vprodemo.com.", true},
		{"intel.vprodemo.com", "notvprodemo.com", false},
		{"intel.vprodemo.com", "com", false},
		{"intel.vprodemo.com", "", false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, domainMatches(tt.cn, tt.suffix), "%s vs %s", tt.cn, tt.suffix)
	}
}

func TestDNSSuffixChangeAppliesToLeafCheck(t *testing.T) {
	p := testCA()
	d := newTestDevice(t)
	c := lsaClient(t, d)
	leaf := p.leaf("intel.other.test", true, "")
	require.Equal(t, []int{certVerifyFailed}, addChain(c, leaf))
	d.SetDNSSuffix("other.test")
	require.Equal(t, "other.test", d.State().DNSSuffix)
	require.Equal(t, []int{0, 0, 0}, addChain(c, leaf, p.inter, p.root))
}
