package amtsim

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/test/amtsim/soap"
)

func mpsFrame(auth, body string) string {
	return "POST /wsman HTTP/1.1\r\n" + auth + "Host: 4c4c4544-004b-4210-8033-b6c04f504633:16992\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// pipe opens a raw connection to the device's network side.
func pipe(t *testing.T, d *Device, local bool) (net.Conn, *bufio.Reader) {
	client, server := net.Pipe()
	t.Cleanup(func() { _ = client.Close() })
	if local {
		go d.ServeLocal(server)
	} else {
		go d.ServeConn(server)
	}
	return client, bufio.NewReader(client)
}

func send(t *testing.T, conn net.Conn, br *bufio.Reader, raw string) (*http.Response, string) {
	go func() { _, _ = io.WriteString(conn, raw) }()
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestUnauthenticatedRequestGets401AndClose(t *testing.T) {
	d := newTestDevice(t)
	force(d, ClientControl)
	conn, br := pipe(t, d, false)
	resp, body := send(t, conn, br, mpsFrame("", envelope(soap.ActionGet, gsURI, "0", "", "")))
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	// §8.2: realm "Digest:"+32 hex, 32-char nonce, stale, qop; text/html; Connection: close.
	require.Regexp(t, regexp.MustCompile(`^Digest realm="Digest:[0-9A-F]{32}", nonce="[A-Za-z0-9+/]{32}",stale="false",qop="auth"$`),
		resp.Header.Get("WWW-Authenticate"))
	require.Equal(t, "text/html", resp.Header.Get("Content-Type"))
	require.True(t, resp.Close)
	require.Contains(t, body, "</html>")
	_, err := br.ReadByte()
	require.ErrorIs(t, err, io.EOF, "AMT closes the connection after a 401")
}

func TestDigestDocVectors(t *testing.T) {
	// protocol-cira-wsman §8.3 (admin) and protocol-rps-activation §7.4 (LSA) vectors,
	// with the device's realm and issued nonce set to the documented values.
	tests := []struct {
		name, realm, nonce, user, pass, response string
		mode                                     ControlMode
	}{
		{"admin §8.3", "Digest:56ABC7BE224EF620C69EB88F01071DC8", "fVNueyEAAAAAAAAAcO8WqJ8s+WdyFUIY", "admin", "P@ssw0rd",
			"89e54a7f67d92228fcd3b500776b0957", ClientControl},
		{"lsa §7.4", "Digest:A4070000000000000000000000000000", "wlbEK1EtAAAAAAAAWW5aUHFp+mQQ1j63", "$$OsAdmin",
			"KQGnH+N5qJ8YLqjEFJMnGSgcnFLMv0Tk", "620915f00f3bb47aab17bf587698d5ea", PreProvisioning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDevice(t, func(c *Config) { c.DigestRealm, c.LSAPassword = tt.realm, tt.pass })
			d.lock()
			d.mode = tt.mode
			d.adminHA1 = md5hex("admin:" + tt.realm + ":" + tt.pass)
			d.nonces.recs[0] = nonceRec{value: tt.nonce, issued: time.Now().UnixNano()}
			d.unlock()
			auth := `Authorization: Digest username="` + tt.user + `",realm="` + tt.realm + `",nonce="` + tt.nonce +
				`",uri="/wsman",qop="auth",response="` + tt.response + `",nc="00000001",cnonce="abc123"` + "\r\n"
			conn, br := pipe(t, d, true)
			resp, body := send(t, conn, br, mpsFrame(auth, envelope(soap.ActionGet, gsURI, "0", "", "")))
			require.Equal(t, http.StatusOK, resp.StatusCode, body)
			require.Contains(t, body, "<g:DigestRealm>"+tt.realm+"</g:DigestRealm>")
			// The same nc on the same nonce is a replay.
			conn, br = pipe(t, d, true)
			resp, _ = send(t, conn, br, mpsFrame(auth, envelope(soap.ActionGet, gsURI, "1", "", "")))
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		})
	}
}

func TestDigestFailures(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	d := newTestDevice(t, func(c *Config) { c.Clock = clock; c.NonceTTL = time.Minute })
	force(d, ClientControl)

	good := newClient(t, d, false, "admin", testPassword)
	good.call(soap.ActionGet, gsURI, "", "")

	wrong := newClient(t, d, false, "admin", "Wrong!Pass1")
	wrong.unchallenge = true
	wrong.realm, wrong.nonce = good.realm, good.nonce
	status, _ := wrong.post(soap.ActionGet, gsURI, "", "")
	require.Equal(t, http.StatusUnauthorized, status)

	lsa := lsaClient(t, d)
	lsa.unchallenge = true
	lsa.realm, lsa.nonce = good.realm, good.nonce
	status, _ = lsa.post(soap.ActionGet, gsURI, "", "")
	require.Equal(t, http.StatusUnauthorized, status, "the LSA account does not authenticate once provisioned")

	// Past the nonce lifetime a correct response is answered with stale="true".
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	good.unchallenge = true
	status, _ = good.post(soap.ActionGet, gsURI, "", "")
	require.Equal(t, http.StatusUnauthorized, status)
	raw := string(good.lastRaw)
	require.Contains(t, raw, `stale="true"`)
	good.unchallenge = false
	good.call(soap.ActionGet, gsURI, "", "")
}

func TestPreProvisioningRefusesNetworkSide(t *testing.T) {
	d := newTestDevice(t)
	u, p := d.LSA()
	c := newClient(t, d, false, u, p)
	status, _ := c.post(soap.ActionGet, gsURI, "", "")
	require.Equal(t, http.StatusUnauthorized, status)
	// The same account on the host side works.
	lsaClient(t, d).call(soap.ActionGet, gsURI, "", "")
}

func TestChunkedResponseShape(t *testing.T) {
	d := newTestDevice(t)
	c := lsaClient(t, d)
	root := c.call(soap.ActionGet, gsURI, "", "")
	raw := string(c.lastRaw)
	head, body, _ := strings.Cut(raw, "\r\n\r\n")
	for _, h := range []string{"HTTP/1.1 200 OK", "Server: Intel(R) Active Management Technology 16.1.25.2049",
		"X-Frame-Options: DENY", "Content-Type: application/soap+xml; charset=UTF-8", "Transfer-Encoding: chunked"} {
		require.Contains(t, head, h)
	}
	require.Regexp(t, `^[0-9A-F]{4}\r\n`, body)
	require.True(t, strings.HasSuffix(body, "\r\n0\r\n\r\n"))
	// Header correlation (§9.2).
	require.Equal(t, strconv.Itoa(c.id), find(root, "Header", "RelatesTo").Value())
	require.Equal(t, soap.ActionGet+"Response", find(root, "Header", "Action").Value())
	require.Regexp(t, `^uuid:00000000-8086-8086-8086-[0-9A-F]{12}$`, find(root, "Header", "MessageID").Value())
	require.Equal(t, gsURI, find(root, "Header", "ResourceURI").Value())
}

func TestFaults(t *testing.T) {
	d := newTestDevice(t)
	c := lsaClient(t, d)
	tests := []struct {
		name, action, uri, sel, body, sub string
	}{
		{"unknown class", soap.ActionGet, soap.AMTPrefix + "AMT_NoSuchClass", "", "", "b:DestinationUnreachable"},
		{"unknown method", gsURI + "/Frobnicate", gsURI, "", `<h:Frobnicate_INPUT xmlns:h="` + gsURI + `"></h:Frobnicate_INPUT>`, "b:ActionNotSupported"},
		{"create", soap.ActionCreate, gsURI, "", "", "b:ActionNotSupported"},
		{"missing instance", soap.ActionGet, soap.AMTPrefix + "AMT_RemoteAccessPolicyRule", selector("PolicyRuleName", "Periodic"), "", "b:DestinationUnreachable"},
		{"wrong input element", sacURI + "/Unprovision", sacURI, "", `<h:Setup_INPUT xmlns:h="` + sacURI + `"></h:Setup_INPUT>`, "c:SchemaValidationError"},
		{"unknown parameter", sacURI + "/Unprovision", sacURI, "", `<h:Unprovision_INPUT xmlns:h="` + sacURI + `"><h:Mode>1</h:Mode></h:Unprovision_INPUT>`, "c:SchemaValidationError"},
		{"bad pull context", soap.ActionPull, gsURI, "", pullBody("00000000-0000-0000-0000-000000000000"), "g:InvalidEnumerationContext"},
		{"put read-only", soap.ActionPut, gsURI, "", `<h:AMT_GeneralSettings xmlns:h="` + gsURI + `"><h:DigestRealm>Digest:00000000000000000000000000000000</h:DigestRealm></h:AMT_GeneralSettings>`, "h:InvalidRepresentation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, root := c.post(tt.action, tt.uri, tt.sel, tt.body)
			require.Equal(t, http.StatusBadRequest, status)
			require.Equal(t, tt.sub, find(root, "Body", "Fault", "Code", "Subcode", "Value").Value())
			require.Equal(t, strconv.Itoa(c.id), find(root, "Header", "RelatesTo").Value())
		})
	}
	_, root := c.post(soap.ActionGet, soap.AMTPrefix+"AMT_NoSuchClass", "", "")
	require.Equal(t, soap.DetailInvalidResourceURI, find(root, "Body", "Fault", "Detail", "FaultDetail").Value())
}

func TestKeepAliveAndClose(t *testing.T) {
	d := newTestDevice(t)
	c := lsaClient(t, d)
	c.call(soap.ActionGet, gsURI, "", "") // obtain a nonce
	conn, br := pipe(t, d, true)
	for i := range 3 {
		resp, body := send(t, conn, br, mpsFrame(c.authHeader(), envelope(soap.ActionGet, gsURI, strconv.Itoa(i), "", "")))
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
	}
	// RPS framing: chunked request body with Connection: close (protocol-rps-activation §1.6).
	env := envelope(soap.ActionGet, gsURI, "9", "", "")
	raw := "POST /wsman HTTP/1.1\r\n" + c.authHeader() + "Host: x:16992\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
		strings.ToUpper(strconv.FormatInt(int64(len(env)), 16)) + "\r\n" + env + "\r\n0\r\n\r\n"
	resp, _ := send(t, conn, br, raw)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	_, err := br.ReadByte()
	require.ErrorIs(t, err, io.EOF)
}

func TestRefusedRequests(t *testing.T) {
	d := newTestDevice(t)
	conn, br := pipe(t, d, true)
	resp, _ := send(t, conn, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	conn, br = pipe(t, d, true)
	resp, _ = send(t, conn, br, "POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n")
	require.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
	conn, br = pipe(t, d, true)
	resp, _ = send(t, conn, br, "POST /wsman HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestUnreachableDropsConnections(t *testing.T) {
	d := newTestDevice(t)
	conn, br := pipe(t, d, true)
	go func() { _, _ = conn.Write([]byte("POST")) }() // a connection in progress
	require.Eventually(t, func() bool { d.lock(); defer d.unlock(); return len(d.conns) == 1 }, time.Second, time.Millisecond)
	d.SetReachable(false)
	_, err := br.ReadByte()
	require.Error(t, err)
	conn2, br2 := pipe(t, d, true)
	go func() { _, _ = conn2.Write([]byte(mpsFrame("", "x"))) }()
	_, err = br2.ReadByte()
	require.Error(t, err, "new connections are dropped while unreachable")
	d.SetReachable(true)
	lsaClient(t, d).call(soap.ActionGet, gsURI, "", "")
}

func TestEnumeratePullPaging(t *testing.T) {
	d := newTestDevice(t)
	c := lsaClient(t, d)
	const swURI = soap.CIMPrefix + "CIM_SoftwareIdentity"
	require.Len(t, c.enumerate(swURI), 11)

	root := c.call(soap.ActionEnumerate, swURI, "", enumBody)
	ctx := find(root, "Body", "EnumerateResponse", "EnumerationContext").Value()
	one := `<Pull xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><EnumerationContext>` + ctx + `</EnumerationContext><MaxElements>10</MaxElements></Pull>`
	root = c.call(soap.ActionPull, swURI, "", one)
	pr := find(root, "Body", "PullResponse")
	require.Len(t, pr.Child("Items").Children, 10)
	require.Nil(t, pr.Child("EndOfSequence"))
	require.Equal(t, ctx, pr.Child("EnumerationContext").Value())
	status, _ := c.post(soap.ActionPull, gsURI, "", pullBody(ctx))
	require.Equal(t, http.StatusBadRequest, status, "a context belongs to its class")
	root = c.call(soap.ActionPull, swURI, "", pullBody(ctx))
	pr = find(root, "Body", "PullResponse")
	require.Len(t, pr.Child("Items").Children, 1)
	require.NotNil(t, pr.Child("EndOfSequence"))
	status, _ = c.post(soap.ActionPull, swURI, "", pullBody(ctx))
	require.Equal(t, http.StatusBadRequest, status, "a finished context is gone")
}

func TestHardwareAndInfoClasses(t *testing.T) {
	d := newTestDevice(t, func(c *Config) { c.GUID = "4c4c4544-004b-4210-8033-b6c04f504633" })
	c := lsaClient(t, d)
	pkg := c.call(soap.ActionGet, soap.CIMPrefix+"CIM_ComputerSystemPackage", "", "")
	require.Equal(t, "44454C4C4B0010428033B6C04F504633", find(pkg, "Body", "CIM_ComputerSystemPackage", "PlatformGUID").Value())
	for _, cls := range []string{"CIM_Chassis", "CIM_Card", "CIM_BIOSElement"} {
		c.call(soap.ActionGet, soap.CIMPrefix+cls, "", "")
	}
	require.Len(t, c.enumerate(soap.CIMPrefix+"CIM_Processor"), 1)
	require.Len(t, c.enumerate(soap.CIMPrefix+"CIM_PhysicalMemory"), 2)
	sac := c.call(soap.ActionGet, sacURI, "", "")
	require.Equal(t, "0", find(sac, "Body", "AMT_SetupAndConfigurationService", "ProvisioningState").Value())
	bios := c.call(soap.ActionGet, soap.CIMPrefix+"CIM_BIOSElement", "", "")
	require.NotEmpty(t, find(bios, "Body", "CIM_BIOSElement", "ReleaseDate", "Datetime").Value())
}

func TestListenTCP(t *testing.T) {
	d := newTestDevice(t)
	force(d, ClientControl)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	go func() { _ = d.Listen(l, false) }()
	conn, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, mpsFrame("", "x"))
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}
