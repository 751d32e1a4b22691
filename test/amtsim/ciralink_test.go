package amtsim

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/test/amtsim/soap"
)

type ciraAuth struct{}

func (ciraAuth) Authenticate(_ context.Context, _, user, pass string) (string, error) {
	if user == "admin" && pass == "CiraPass1!" {
		return "tenant-1", nil
	}
	return "", ciragw.ErrBadCredentials
}

// TestRunCIRAThroughGateway configures CIRA over WS-Man, lets the device dial a real
// gateway on loopback, and sends WS-Man back through the tunnel with the 401 + new
// channel flow of protocol-cira-wsman §8.3.
func TestRunCIRAThroughGateway(t *testing.T) {
	p := testCA()
	server := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "mps.test"}, DNSNames: []string{"mps.test"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, p.root, p.rootKey, p.leafKey)
	gw, err := ciragw.New(ciragw.Config{
		Certificate:   tls.Certificate{Certificate: [][]byte{server.Raw}, PrivateKey: p.leafKey},
		Authenticator: ciraAuth{},
	})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gwDone := make(chan struct{})
	go func() { defer close(gwDone); _ = gw.Serve(ctx, ln) }()

	d := newTestDevice(t)
	c := ccm(t, d)
	port := ln.Addr().(*net.TCPAddr).Port
	rv, _ := c.method(pkmsURI, "AddTrustedRootCertificate", `<h:CertificateBlob>`+b64(p.root.Raw)+`</h:CertificateBlob>`)
	require.Equal(t, 0, rv)
	rv, _ = c.method(rasURI, "AddMpServer", `<h:AccessInfo>127.0.0.1</h:AccessInfo><h:InfoFormat>3</h:InfoFormat><h:Port>`+
		strconv.Itoa(port)+`</h:Port><h:AuthMethod>2</h:AuthMethod><h:Username>admin</h:Username><h:Password>CiraPass1!</h:Password><h:CN>mps.test</h:CN>`)
	require.Equal(t, 0, rv)
	rv, _ = c.method(rasURI, "AddRemoteAccessPolicyRule", ruleParams("2", "0", "AAAAAAAAABk=", "Intel(r) AMT:Management Presence Server 0"))
	require.Equal(t, 0, rv)
	require.True(t, d.State().CIRAConfigured)

	ciraDone := make(chan error, 1)
	go func() {
		ciraDone <- d.RunCIRA(ctx, CIRAOptions{MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	}()
	guid := d.GUID().String()
	connected := func() bool { _, ok := gw.Session(guid); return ok }
	require.Eventually(t, connected, 10*time.Second, 5*time.Millisecond)

	get := envelope(soap.ActionGet, gsURI, "1", "", "")
	roundTrip := func(auth string) *http.Response {
		ch, err := gw.OpenChannel(ctx, guid, 16992)
		require.NoError(t, err)
		defer ch.Close()
		_, err = io.WriteString(ch, "POST /wsman HTTP/1.1\r\n"+auth+"Host: "+guid+":16992\r\nContent-Length: "+
			strconv.Itoa(len(get))+"\r\n\r\n"+get)
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(ch), nil)
		require.NoError(t, err)
		_, _ = io.ReadAll(resp.Body)
		return resp
	}
	resp := roundTrip("")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	m := challengeRe.FindStringSubmatch(resp.Header.Get("WWW-Authenticate"))
	require.NotNil(t, m)
	tunnel := &wsclient{t: t, user: "admin", pass: testPassword, realm: m[1], nonce: m[2]}
	resp = roundTrip(tunnel.authHeader())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, []string{"chunked"}, resp.TransferEncoding)

	// A network cut drops the tunnel; restoring it brings the device back.
	d.SetReachable(false)
	require.Eventually(t, func() bool { return !connected() }, 10*time.Second, 5*time.Millisecond)
	d.SetReachable(true)
	require.Eventually(t, connected, 10*time.Second, 5*time.Millisecond)

	// Unprovisioning ends CIRA for good.
	rv, _ = c.method(sacURI, "Unprovision", `<h:ProvisioningMode>1</h:ProvisioningMode>`)
	require.Equal(t, 0, rv)
	require.Eventually(t, func() bool { return !connected() }, 10*time.Second, 5*time.Millisecond)
	cancel()
	require.ErrorIs(t, <-ciraDone, context.Canceled)
	<-gwDone
}
