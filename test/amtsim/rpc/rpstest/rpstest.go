// Package rpstest is a minimal activation server for testing the simulator and its
// command: it plays RPS's side of the rpc-go websocket protocol for a CCM activation
// with optional CIRA configuration (protocol-rps-activation §1.6, §2.3, §2.9, §6). It
// is not an RPS; it sends exactly the requests the doc lists, in its framing.
package rpstest

import (
	"bufio"
	"bytes"
	"crypto/md5" //nolint:gosec // G501: HTTP Digest (RFC 2617), the only auth AMT speaks, is defined on MD5
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"

	"github.com/gorilla/websocket"

	"github.com/dmrm/dm-manager/test/amtsim/rpc"
)

// Server is a websocket activation server on loopback.
type Server struct {
	URL string
	srv *httptest.Server
}

// New serves script for every connection; a script error is sent as an "error" message.
func New(script func(*Session) error) *Server {
	up := websocket.Upgrader{}
	s := &Server{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		sess := &Session{ws: ws}
		if err := sess.readFirst(); err != nil {
			return
		}
		if err := script(sess); err != nil {
			_ = sess.Send("error", `{"Status":"`+err.Error()+`"}`, "")
		}
	}))
	s.URL = "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/activate"
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Session is one rpc-go connection.
type Session struct {
	ws      *websocket.Conn
	First   rpc.Message
	Payload rpc.Payload
	user    string
	pass    string
	realm   string
	nonce   string
	nc      int
	id      int
}

func (s *Session) readFirst() error {
	if err := s.ws.ReadJSON(&s.First); err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(s.First.Payload)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &s.Payload); err != nil {
		return err
	}
	s.user, s.pass = s.Payload.Username, s.Payload.Password
	if s.Payload.CurrentMode != 0 {
		s.user = "admin"
	}
	return nil
}

// Read reads one message from rpc-go.
func (s *Session) Read() (rpc.Message, error) {
	var m rpc.Message
	err := s.ws.ReadJSON(&m)
	return m, err
}

// Send writes one message to rpc-go.
func (s *Session) Send(method, message, payload string) error {
	m := map[string]any{"method": method, "apiKey": "xxxxx", "appVersion": "rpstest", "protocolVersion": rpc.ProtocolVersion,
		"status": "ok", "message": message, "payload": payload, "tenantId": ""}
	switch method {
	case "success":
		m["status"], m["payload"] = "success", nil
	case "error":
		m["status"], m["payload"] = "failed", nil
	}
	return s.ws.WriteJSON(m)
}

// UseCredentials switches the digest account (RPS UPDATE_CREDENTIALS, §2.3).
func (s *Session) UseCredentials(user, pass string) { s.user, s.pass = user, pass }

// Realm is the digest realm of the last challenge.
func (s *Session) Realm() string { return s.realm }

var challengeRe = regexp.MustCompile(`realm="([^"]+)", ?nonce="([^"]+)"`)

// WSMan relays one request (RPS framing: chunked, Connection: close, §1.6), answering
// AMT's 401 with Digest up to three times (§2.14). It returns the status and the body.
func (s *Session) WSMan(action, resource, selectors, body string) (int, string, error) {
	for range 3 {
		status, out, hdr, err := s.roundTrip(action, resource, selectors, body)
		if err != nil || status != http.StatusUnauthorized {
			return status, out, err
		}
		m := challengeRe.FindStringSubmatch(hdr.Get("WWW-Authenticate"))
		if m == nil {
			return status, out, errors.New("401 without a Digest challenge")
		}
		s.realm, s.nonce, s.nc = m[1], m[2], 0
	}
	return http.StatusUnauthorized, "", statusError("Unable to authenticate with AMT")
}

func (s *Session) roundTrip(action, resource, selectors, body string) (int, string, http.Header, error) {
	s.id++
	xml := `<?xml version="1.0" encoding="utf-8"?><Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns="http://www.w3.org/2003/05/soap-envelope"><Header><a:Action>` +
		action + `</a:Action><a:To>/wsman</a:To><w:ResourceURI>` + resource + `</w:ResourceURI><a:MessageID>` + strconv.Itoa(s.id) +
		`</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><w:OperationTimeout>PT60S</w:OperationTimeout>` +
		selectors + `</Header><Body>` + body + `</Body></Envelope>`
	auth := ""
	if s.nonce != "" {
		s.nc++
		nc := fmt.Sprintf("%08x", s.nc)
		resp := md5hex(md5hex(s.user+":"+s.realm+":"+s.pass) + ":" + s.nonce + ":" + nc + ":5a5a5a:auth:" + md5hex("POST:/wsman"))
		auth = fmt.Sprintf(`Authorization: Digest username="%s",realm="%s",nonce="%s",uri="/wsman",qop="auth",response="%s",nc="%s",cnonce="5a5a5a"`+"\r\n",
			s.user, s.realm, s.nonce, resp, nc)
	}
	raw := "POST /wsman HTTP/1.1\r\n" + auth + "Host: " + s.Payload.UUID + ":16992\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
		fmt.Sprintf("%X\r\n%s\r\n0\r\n\r\n", len(xml), xml)
	if err := s.Send("wsman", "", base64.StdEncoding.EncodeToString([]byte(raw))); err != nil {
		return 0, "", nil, err
	}
	m, err := s.Read()
	if err != nil {
		return 0, "", nil, err
	}
	if m.Method != "response" {
		return 0, "", nil, fmt.Errorf("expected a response, got %q", m.Method)
	}
	out, err := base64.StdEncoding.DecodeString(m.Payload)
	if err != nil {
		return 0, "", nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil)
	if err != nil {
		return 0, "", nil, err
	}
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header, err
}

// Method calls an extrinsic method and returns its ReturnValue.
func (s *Session) Method(resource, name, params string) (int, string, error) {
	body := `<h:` + name + `_INPUT xmlns:h="` + resource + `">` + params + `</h:` + name + `_INPUT>`
	status, out, err := s.WSMan(resource+"/"+name, resource, "", body)
	if err != nil {
		return 0, out, err
	}
	if status != http.StatusOK {
		return 0, out, fmt.Errorf("%s: HTTP %d", name, status)
	}
	rv, err := strconv.Atoi(Value(out, "ReturnValue"))
	return rv, out, err
}

// Value is the text of the first element with that local name (prefix ignored).
func Value(xml, local string) string {
	m := regexp.MustCompile(`<(?:[A-Za-z0-9]+:)?` + local + `>([^<]*)</`).FindStringSubmatch(xml)
	if m == nil {
		return ""
	}
	return m[1]
}

// statusError carries one of RPS's status texts (§4.1), which start with a capital.
type statusError string

func (e statusError) Error() string { return string(e) }

func md5hex(s string) string {
	sum := md5.Sum([]byte(s)) //nolint:gosec // G401: RFC 2617 Digest mandates MD5; not used for integrity here
	return hex.EncodeToString(sum[:])
}

// CIRA is the CIRA configuration the script writes (§2.9).
type CIRA struct {
	RootDER    []byte
	Address    string
	InfoFormat int // 3 IPv4 (then CN), 201 FQDN
	Port       int
	CN         string
	Username   string
	Password   string
}

const (
	amt = "http://intel.com/wbem/wscim/1/amt-schema/1/"
	ips = "http://intel.com/wbem/wscim/1/ips-schema/1/"
)

// CCM is the script of §6: GeneralSettings Get (401, digest), Setup, then the CIRA
// steps when cira is set, and success with RPS's status texts.
func CCM(password string, cira *CIRA) func(*Session) error {
	return func(s *Session) error {
		status, out, err := s.WSMan("http://schemas.xmlsoap.org/ws/2004/09/transfer/Get", amt+"AMT_GeneralSettings", "", "")
		if err != nil || status != http.StatusOK {
			return statusError("Unable to authenticate with AMT")
		}
		realm := Value(out, "DigestRealm")
		rv, _, err := s.Method(ips+"IPS_HostBasedSetupService", "Setup",
			`<h:NetAdminPassEncryptionType>2</h:NetAdminPassEncryptionType><h:NetworkAdminPassword>`+
				md5hex("admin:"+realm+":"+password)+`</h:NetworkAdminPassword>`)
		if err != nil || rv != 0 {
			return statusError("Failed to activate in client control mode.")
		}
		s.UseCredentials("admin", password)
		result := map[string]string{"Status": "Client control mode."}
		if cira != nil {
			result["CIRAConnection"] = "Configured"
			if err := configureCIRA(s, cira); err != nil {
				result["CIRAConnection"] = err.Error()
			}
		}
		msg, _ := json.Marshal(result)
		return s.Send("success", string(msg), "")
	}
}

func configureCIRA(s *Session, c *CIRA) error {
	ras := amt + "AMT_RemoteAccessService"
	if rv, _, err := s.Method(amt+"AMT_PublicKeyManagementService", "AddTrustedRootCertificate",
		`<h:CertificateBlob>`+base64.StdEncoding.EncodeToString(c.RootDER)+`</h:CertificateBlob>`); err != nil || rv != 0 {
		return statusError("Failed to add trusted root certificate")
	}
	rv, out, err := s.Method(ras, "AddMpServer", fmt.Sprintf(`<h:AccessInfo>%s</h:AccessInfo><h:InfoFormat>%d</h:InfoFormat>`+
		`<h:Port>%d</h:Port><h:AuthMethod>2</h:AuthMethod><h:Username>%s</h:Username><h:Password>%s</h:Password><h:CN>%s</h:CN>`,
		c.Address, c.InfoFormat, c.Port, c.Username, c.Password, c.CN))
	if err != nil || rv != 0 {
		return statusError("Failed to add mps")
	}
	sap := Value(out, "Selector Name=\"Name\"")
	if sap == "" {
		sap = "Intel(r) AMT:Management Presence Server 0"
	}
	ext := base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(make([]byte, 4), 25))
	for _, rule := range []struct{ trigger, life, ext string }{{"2", "0", ext}, {"0", "300", ""}} {
		params := `<h:Trigger>` + rule.trigger + `</h:Trigger><h:TunnelLifeTime>` + rule.life + `</h:TunnelLifeTime><h:ExtendedData>` + rule.ext +
			`</h:ExtendedData><h:MpServer><Address xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</Address><ReferenceParameters xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing"><ResourceURI xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">` +
			amt + `AMT_ManagementPresenceRemoteSAP</ResourceURI><SelectorSet xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Selector Name="Name">` + sap +
			`</Selector></SelectorSet></ReferenceParameters></h:MpServer>`
		if rv, _, err := s.Method(ras, "AddRemoteAccessPolicyRule", params); err != nil || rv != 0 {
			return statusError("Failed to add remote policy access rule")
		}
	}
	if rv, _, err := s.Method(amt+"AMT_UserInitiatedConnectionService", "RequestStateChange",
		`<h:RequestedState>32771</h:RequestedState>`); err != nil || rv != 0 {
		return statusError("Failed to set user initiated connection service")
	}
	return nil
}
