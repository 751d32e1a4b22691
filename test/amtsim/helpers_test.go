package amtsim

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/test/amtsim/soap"
)

const (
	testSuffix   = "vprodemo.test"
	testPassword = "Intel123!"
)

// newTestDevice makes a device with fast power delays and the test PKI root trusted.
func newTestDevice(t *testing.T, mutate ...func(*Config)) *Device {
	t.Helper()
	cfg := Config{
		DNSSuffix: testSuffix, Hostname: "host1",
		PowerDelay: 5 * time.Millisecond, OSBootDelay: 5 * time.Millisecond, OSShutdownDelay: 5 * time.Millisecond,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	d, err := New(cfg)
	require.NoError(t, err)
	d.AddRootHash(NewRootHash("test root", testCA().root.Raw))
	return d
}

// testPKI is a provisioning PKI generated once per test binary: a root the test device
// trusts, an intermediate, and keys for leaves issued by the intermediate.
type testPKI struct {
	rootKey, interKey, leafKey *rsa.PrivateKey
	root, inter                *x509.Certificate
}

var (
	pkiOnce sync.Once
	pki     testPKI
)

func testCA() *testPKI {
	pkiOnce.Do(func() {
		pki.rootKey = mustKey()
		pki.interKey = mustKey()
		pki.leafKey = mustKey()
		pki.root = issue(&x509.Certificate{Subject: pkix.Name{CommonName: "amtsim test root"}, IsCA: true}, nil, pki.rootKey, pki.rootKey)
		pki.inter = issue(&x509.Certificate{Subject: pkix.Name{CommonName: "amtsim test intermediate"}, IsCA: true}, pki.root, pki.rootKey, pki.interKey)
	})
	return &pki
}

func mustKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

var serial int64

// issue signs tmpl with the issuer (self-signed when parent is nil).
func issue(tmpl, parent *x509.Certificate, parentKey, key *rsa.PrivateKey) *x509.Certificate {
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
	if tmpl.IsCA {
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		panic(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return c
}

// leaf issues a provisioning certificate from the intermediate.
func (p *testPKI) leaf(cn string, eku bool, ou string) *x509.Certificate {
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: cn}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if eku {
		tmpl.UnknownExtKeyUsage = []asn1.ObjectIdentifier{oidAMTActivation}
	}
	if ou != "" {
		tmpl.Subject.OrganizationalUnit = []string{ou}
	}
	return issue(tmpl, p.inter, p.interKey, p.leafKey)
}

// wsclient drives a device's WS-Man server with raw HTTP built from the docs, doing the
// digest dance of protocol-cira-wsman §8.3 and protocol-rps-activation §2.14.
type wsclient struct {
	t           *testing.T
	d           *Device
	local       bool
	user, pass  string
	realm       string
	nonce       string
	nc          int
	id          int
	lastRaw     []byte
	unchallenge bool // when set, never answer a 401 (to observe it)
}

func newClient(t *testing.T, d *Device, local bool, user, pass string) *wsclient {
	return &wsclient{t: t, d: d, local: local, user: user, pass: pass}
}

// lsaClient is rpc-go's view in pre-provisioning: local, LSA credentials.
func lsaClient(t *testing.T, d *Device) *wsclient {
	u, p := d.LSA()
	return newClient(t, d, true, u, p)
}

// exchange writes raw request bytes on a fresh connection and reads one response.
func (c *wsclient) exchange(raw string) *http.Response {
	client, server := net.Pipe()
	t := c.t
	t.Cleanup(func() { _ = client.Close() })
	if c.local {
		go c.d.ServeLocal(server)
	} else {
		go c.d.ServeConn(server)
	}
	go func() { _, _ = io.WriteString(client, raw) }()
	var captured bytes.Buffer
	resp, err := http.ReadResponse(bufio.NewReader(io.TeeReader(client, &captured)), nil)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	c.lastRaw = captured.Bytes()
	return resp
}

func (c *wsclient) authHeader() string {
	if c.nonce == "" {
		return ""
	}
	c.nc++
	nc := fmt.Sprintf("%08x", c.nc)
	ha1 := md5hex(c.user + ":" + c.realm + ":" + c.pass)
	ha2 := md5hex("POST:/wsman")
	resp := md5hex(ha1 + ":" + c.nonce + ":" + nc + ":abc123:auth:" + ha2)
	return fmt.Sprintf(`Authorization: Digest username="%s",realm="%s",nonce="%s",uri="/wsman",qop="auth",response="%s",nc="%s",cnonce="abc123"`+"\r\n",
		c.user, c.realm, c.nonce, resp, nc)
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

var challengeRe = regexp.MustCompile(`realm="([^"]+)", nonce="([^"]+)",stale="(true|false)",qop="auth"`)

// post sends one envelope with MPS framing (Content-Length), re-authenticating on 401.
func (c *wsclient) post(action, resource, selectors, body string) (int, *soap.Node) {
	for range 3 {
		c.id++
		env := envelope(action, resource, strconv.Itoa(c.id), selectors, body)
		raw := "POST /wsman HTTP/1.1\r\n" + c.authHeader() + "Host: " + c.d.GUID().String() + ":16992\r\n" +
			"Content-Length: " + strconv.Itoa(len(env)) + "\r\n\r\n" + env
		resp := c.exchange(raw)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusUnauthorized && !c.unchallenge {
			m := challengeRe.FindStringSubmatch(resp.Header.Get("WWW-Authenticate"))
			require.NotNil(c.t, m, resp.Header.Get("WWW-Authenticate"))
			c.realm, c.nonce, c.nc = m[1], m[2], 0
			continue
		}
		if resp.StatusCode == http.StatusUnauthorized {
			return resp.StatusCode, nil
		}
		root, err := soap.ParseTree(b)
		require.NoError(c.t, err, string(b))
		return resp.StatusCode, root
	}
	return http.StatusUnauthorized, nil
}

// call posts and requires 200.
func (c *wsclient) call(action, resource, selectors, body string) *soap.Node {
	c.t.Helper()
	status, root := c.post(action, resource, selectors, body)
	require.Equal(c.t, http.StatusOK, status, "%s on %s: %s", action, resource, faultText(root))
	return root
}

// method invokes Method with the given parameter XML and returns ReturnValue.
func (c *wsclient) method(resource, name, params string) (int, *soap.Node) {
	c.t.Helper()
	body := `<h:` + name + `_INPUT xmlns:h="` + resource + `">` + params + `</h:` + name + `_INPUT>`
	root := c.call(resource+"/"+name, resource, "", body)
	out := find(root, "Body", name+"_OUTPUT")
	require.NotNil(c.t, out)
	rv, err := strconv.Atoi(out.Child("ReturnValue").Value())
	require.NoError(c.t, err)
	return rv, out
}

func faultText(root *soap.Node) string {
	if f := find(root, "Body", "Fault"); f != nil {
		return find(f, "Code", "Subcode", "Value").Value() + ": " + find(f, "Reason", "Text").Value()
	}
	return ""
}

// find walks children by local names.
func find(n *soap.Node, path ...string) *soap.Node {
	for _, p := range path {
		if n == nil {
			return nil
		}
		n = n.Child(p)
	}
	return n
}

// envelope is the exact request XML of protocol-rps-activation §7.8.
func envelope(action, resource, id, selectors, body string) string {
	return `<?xml version="1.0" encoding="utf-8"?><Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns="http://www.w3.org/2003/05/soap-envelope">` +
		`<Header><a:Action>` + action + `</a:Action><a:To>/wsman</a:To><w:ResourceURI>` + resource + `</w:ResourceURI><a:MessageID>` + id +
		`</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><w:OperationTimeout>PT60S</w:OperationTimeout>` +
		selectors + `</Header><Body>` + body + `</Body></Envelope>`
}

func selector(name, value string) string {
	return `<w:SelectorSet><w:Selector Name="` + name + `">` + value + `</w:Selector></w:SelectorSet>`
}

const (
	hbsURI   = soap.IPSPrefix + "IPS_HostBasedSetupService"
	sacURI   = soap.AMTPrefix + "AMT_SetupAndConfigurationService"
	gsURI    = soap.AMTPrefix + "AMT_GeneralSettings"
	authzURI = soap.AMTPrefix + "AMT_AuthorizationService"
	enumBody = `<Enumerate xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration" />`
)

func pullBody(ctx string) string {
	return `<Pull xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><EnumerationContext>` + ctx +
		`</EnumerationContext><MaxElements>999</MaxElements><MaxCharacters>99999</MaxCharacters></Pull>`
}

// enumerate runs Enumerate then one Pull and returns the items.
func (c *wsclient) enumerate(resource string) []*soap.Node {
	c.t.Helper()
	root := c.call(soap.ActionEnumerate, resource, "", enumBody)
	ctx := find(root, "Body", "EnumerateResponse", "EnumerationContext").Value()
	require.NotEmpty(c.t, ctx)
	root = c.call(soap.ActionPull, resource, "", pullBody(ctx))
	pr := find(root, "Body", "PullResponse")
	require.NotNil(c.t, pr.Child("EndOfSequence"))
	return pr.Child("Items").Children
}

// ccm activates the device in client control mode with testPassword, as RPS does.
func ccm(t *testing.T, d *Device) *wsclient {
	c := lsaClient(t, d)
	realm := find(c.call(soap.ActionGet, gsURI, "", ""), "Body", "AMT_GeneralSettings", "DigestRealm").Value()
	rv, _ := c.method(hbsURI, "Setup", `<h:NetAdminPassEncryptionType>2</h:NetAdminPassEncryptionType><h:NetworkAdminPassword>`+
		md5hex("admin:"+realm+":"+testPassword)+`</h:NetworkAdminPassword>`)
	require.Equal(t, 0, rv)
	return newClient(t, d, false, "admin", testPassword)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
