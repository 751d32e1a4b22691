package amtsim

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/test/amtsim/soap"
)

const (
	keysURI    = soap.AMTPrefix + keyPairClass
	credCtxURI = soap.AMTPrefix + credContextClass
	tlsSetURI  = soap.AMTPrefix + tlsSettingClass
)

func credContextBody(certID, collection string) string {
	ref := func(uri, name, value string) string {
		return `<a:Address>/wsman</a:Address><a:ReferenceParameters><w:ResourceURI>` + uri +
			`</w:ResourceURI><w:SelectorSet><w:Selector Name="` + name + `">` + value +
			`</w:Selector></w:SelectorSet></a:ReferenceParameters>`
	}
	return `<h:AMT_TLSCredentialContext xmlns:h="` + credCtxURI + `"><h:ElementInContext>` +
		ref(soap.AMTPrefix+certClass, "InstanceID", certID) + `</h:ElementInContext><h:ElementProvidingContext>` +
		ref(soap.AMTPrefix+endpointCollClass, "ElementName", collection) + `</h:ElementProvidingContext></h:AMT_TLSCredentialContext>`
}

func tlsSettingBody(id, enabled, nonSecure, mutual string) string {
	return `<h:AMT_TLSSettingData xmlns:h="` + tlsSetURI + `"><h:AcceptNonSecureConnections>` + nonSecure +
		`</h:AcceptNonSecureConnections><h:ElementName>` + id + `</h:ElementName><h:Enabled>` + enabled +
		`</h:Enabled><h:InstanceID>` + id + `</h:InstanceID><h:MutualAuthentication>` + mutual +
		`</h:MutualAuthentication></h:AMT_TLSSettingData>`
}

// The firmware refuses malformed or inconsistent TLS configuration, and once it is committed serves the issued
// certificate on 16993, also on a device that does not enforce TLS.
func TestTLSConfigurationFirmware(t *testing.T) {
	d := newTestDevice(t, func(c *Config) { c.RolloverDelay = 20 * time.Millisecond })
	c := ccm(t, d)

	rv, _ := c.method(pkmsURI, "GenerateKeyPair", `<h:KeyAlgorithm>1</h:KeyAlgorithm><h:KeyLength>2048</h:KeyLength>`)
	require.Equal(t, ptInvalidParameter, rv, "only RSA")
	rv, out := c.method(pkmsURI, "GenerateKeyPair", `<h:KeyAlgorithm>0</h:KeyAlgorithm><h:KeyLength>2048</h:KeyLength>`)
	require.Equal(t, ptSuccess, rv)
	keyID := find(out, "KeyPair", "ReferenceParameters", "SelectorSet", "Selector").Value()
	items := c.enumerate(keysURI)
	require.Len(t, items, 1)
	der, err := base64.StdEncoding.DecodeString(items[0].Child("DERKey").Value())
	require.NoError(t, err)
	pub, err := x509.ParsePKCS1PublicKey(der)
	require.NoError(t, err)

	p := testCA()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "amt-tls"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, tmpl, p.inter, pub, p.interKey)
	require.NoError(t, err)
	for _, bad := range []string{"not base64!", b64([]byte("not a certificate")), b64(p.inter.Raw)} {
		rv, _ = c.method(pkmsURI, "AddCertificate", `<h:CertificateBlob>`+bad+`</h:CertificateBlob>`)
		require.Equal(t, ptInvalidParameter, rv, bad)
	}
	rv, out = c.method(pkmsURI, "AddCertificate", `<h:CertificateBlob>`+b64(leafDER)+`</h:CertificateBlob>`)
	require.Equal(t, ptSuccess, rv)
	certID := find(out, "CreatedCertificate", "ReferenceParameters", "SelectorSet", "Selector").Value()

	// The key is in use: it cannot be deleted.
	status, root := c.post(soap.ActionDelete, keysURI, selector("InstanceID", keyID), "")
	require.Equal(t, http.StatusBadRequest, status, faultText(root))

	for _, bad := range []string{
		credContextBody("Intel(r) AMT Certificate: Handle: 99", endpointCollName),
		credContextBody(certID, "another collection"),
		`<h:AMT_TLSCredentialContext xmlns:h="` + credCtxURI + `"><h:ElementInContext>x</h:ElementInContext></h:AMT_TLSCredentialContext>`,
		`<h:Other xmlns:h="` + credCtxURI + `"/>`,
	} {
		status, root := c.post(soap.ActionCreate, credCtxURI, "", bad)
		require.Equal(t, http.StatusBadRequest, status, bad)
		require.NotEmpty(t, faultText(root))
	}
	for _, bad := range []string{
		tlsSettingBody(remoteTLSSettingID, "true", "true", "false"), // no credential context yet
		tlsSettingBody(remoteTLSSettingID, "yes", "true", "false"),
		tlsSettingBody(localTLSSettingID, "false", "true", "maybe"),
	} {
		status, _ := c.post(soap.ActionPut, tlsSetURI, selector("InstanceID", remoteTLSSettingID), bad)
		require.Equal(t, http.StatusBadRequest, status, bad)
	}
	require.Nil(t, d.State().TLS)

	root = c.call(soap.ActionCreate, credCtxURI, "", credContextBody(certID, endpointCollName))
	created := find(root, "Body", "ResourceCreated")
	require.NotNil(t, created)
	require.Equal(t, credCtxURI, find(created, "ReferenceParameters", "ResourceURI").Value())
	c.call(soap.ActionPut, tlsSetURI, selector("InstanceID", remoteTLSSettingID),
		tlsSettingBody(remoteTLSSettingID, "true", "true", "false"))
	status, _ = c.post(soap.ActionPut, tlsSetURI, selector("InstanceID", localTLSSettingID),
		tlsSettingBody(localTLSSettingID, "true", "true", "true"))
	require.Equal(t, http.StatusBadRequest, status, "no mutual authentication on the host side")
	c.call(soap.ActionPut, tlsSetURI, selector("InstanceID", localTLSSettingID),
		tlsSettingBody(localTLSSettingID, "true", "true", "false"))

	cl, s := net.Pipe()
	go d.ServeLocalTLS(s)
	require.Error(t, tls.Client(cl, &tls.Config{InsecureSkipVerify: true}).Handshake(), //nolint:gosec // refused anyway
		"no TLS on 16993 before CommitChanges")

	rv, _ = c.method(sacURI, "CommitChanges", "")
	require.Equal(t, ptSuccess, rv)
	st := d.State().TLS
	require.NotNil(t, st)
	require.Equal(t, leafDER, st.Certificate)

	// After the rollover AMT serves the issued certificate.
	var served []byte
	require.Eventually(t, func() bool {
		cl, s := net.Pipe()
		go d.ServeLocalTLS(s)
		tc := tls.Client(cl, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test checks the certificate
		defer tc.Close()
		if tc.Handshake() != nil {
			return false
		}
		served = tc.ConnectionState().PeerCertificates[0].Raw
		return true
	}, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, leafDER, served)

	// Remote TLS without non-TLS connections: network-side WS-Man on 16992 (CIRA's channels) is refused.
	c.call(soap.ActionPut, tlsSetURI, selector("InstanceID", remoteTLSSettingID),
		tlsSettingBody(remoteTLSSettingID, "true", "false", "false"))
	rv, _ = c.method(sacURI, "CommitChanges", "")
	require.Equal(t, ptSuccess, rv)
	cl, s = net.Pipe()
	go d.ServeConn(s)
	_, err = cl.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "16992 closed at once")

	// Unprovision returns to factory state: no keys, no context, AMT's own certificate.
	rv, _ = newClient(t, d, true, "admin", testPassword).method(sacURI, "Unprovision", `<h:ProvisioningMode>1</h:ProvisioningMode>`)
	require.Equal(t, ptSuccess, rv)
	require.Eventually(t, func() bool { return d.State().TLS == nil && d.TLSConfig().KeyPairs == 0 },
		5*time.Second, 5*time.Millisecond)
	// 16993 is closed again on this device (it does not enforce TLS, and local TLS is gone).
	cl, s = net.Pipe()
	go d.ServeLocalTLS(s)
	require.Error(t, tls.Client(cl, &tls.Config{InsecureSkipVerify: true}).Handshake()) //nolint:gosec // refused anyway
}

// FuzzTLSConfigBodies: whatever Create and Put bodies arrive, the firmware answers (a fault or an instance) and
// never panics.
func FuzzTLSConfigBodies(f *testing.F) {
	f.Add(credContextBody("Intel(r) AMT Certificate: Handle: 1", endpointCollName), false)
	f.Add(tlsSettingBody(remoteTLSSettingID, "true", "true", "false"), true)
	f.Add(`<h:AMT_TLSCredentialContext xmlns:h="`+credCtxURI+`"><h:ElementInContext><a:ReferenceParameters/></h:ElementInContext></h:AMT_TLSCredentialContext>`, false)
	d, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	d.mode = ClientControl
	f.Fuzz(func(t *testing.T, body string, put bool) {
		action, uri, sel := soap.ActionCreate, credCtxURI, ""
		if put {
			action, uri, sel = soap.ActionPut, tlsSetURI, selector("InstanceID", remoteTLSSettingID)
		}
		req, fault := soap.ParseRequest([]byte(envelope(action, uri, strconv.Itoa(1), sel, body)))
		if fault != nil {
			return
		}
		d.lock()
		defer d.unlock()
		_, _, _ = d.dispatch(&call{d: d, req: req})
	})
}
