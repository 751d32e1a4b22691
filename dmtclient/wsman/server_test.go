package wsman

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// testAMT is a minimal digest-protected WS-Man endpoint on loopback TCP, enough to exercise the client's
// connection handling; the full device simulator is test/amtsim.
type testAMT struct {
	ln                    net.Listener
	user, password, realm string

	chunk      int  // > 0: chunked body in pieces of this size, each written separately; 0: Content-Length
	closeAfter bool // `Connection: close` on every 200
	respond    func(relatesTo, body string) (int, string)
	hold       chan struct{} // when set, requests wait for it to close before being answered
	dropNext   int           // the next dropNext authorized requests are read, then the connection is closed unanswered

	mu       sync.Mutex
	nonce    string
	nonceSeq int
	lastNC   string
	conns    int
	seen     []seenReq
	active   map[net.Conn]struct{}
	wg       sync.WaitGroup
}

type seenReq struct {
	conn       int
	authorized bool
	nc         string
	host       string
	header     http.Header
	body       string
}

func newTestAMT(t testing.TB) *testAMT {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &testAMT{
		ln: ln, user: "admin", password: "P@ssw0rd", realm: "Digest:56ABC7BE224EF620C69EB88F01071DC8",
		active: map[net.Conn]struct{}{},
		respond: func(relatesTo, _ string) (int, string) {
			return 200, generalSettingsResponse(relatesTo)
		},
	}
	s.rotateNonce()
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *testAMT) rotateNonce() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nonceSeq++
	s.nonce = fmt.Sprintf("fVNueyEAAAAAAAAAcO8WqJ8s+Wdy%04d", s.nonceSeq)
	s.lastNC = ""
}

func (s *testAMT) dialer() Dialer {
	return DialerFunc(func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", s.ln.Addr().String())
	})
}

func (s *testAMT) client(t testing.TB, mod func(*Config)) *Client {
	cfg := Config{Dialer: s.dialer(), Host: "0b4c5d6e-0000-0000-0000-000000000001:16992", Username: s.user, Password: s.password}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (s *testAMT) requests() []seenReq {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seenReq(nil), s.seen...)
}

func (s *testAMT) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.active {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *testAMT) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns++
		id := s.conns
		s.active[conn] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.active, conn)
				s.mu.Unlock()
				_ = conn.Close()
			}()
			s.handleConn(id, conn)
		}()
	}
}

var (
	reqMessageID = regexp.MustCompile(`<a:MessageID>([0-9]+)</a:MessageID>`)
	authParam    = regexp.MustCompile(`(\w+)="([^"]*)"`)
)

func (s *testAMT) handleConn(id int, conn net.Conn) {
	br := bufio.NewReader(conn)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		ok, nc := s.checkDigest(req.Header.Get("Authorization"))
		s.mu.Lock()
		s.seen = append(s.seen, seenReq{conn: id, authorized: ok, nc: nc, host: req.Host, header: req.Header, body: string(body)})
		nonce, hold := s.nonce, s.hold
		drop := ok && s.dropNext > 0
		if drop {
			s.dropNext--
		}
		s.mu.Unlock()
		if drop {
			return
		}
		if hold != nil {
			<-hold
		}
		if !ok {
			page := "<html><body>Log on failed.</body></html>"
			fmt.Fprintf(conn, "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"%s\", nonce=\"%s\",stale=\"false\",qop=\"auth\"\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
				s.realm, nonce, len(page), page)
			return
		}
		m := reqMessageID.FindStringSubmatch(string(body))
		relatesTo := ""
		if m != nil {
			relatesTo = m[1]
		}
		status, xml := s.respond(relatesTo, string(body))
		closing := s.closeAfter || req.Close
		if !s.writeResponse(conn, status, xml, closing) || closing {
			return
		}
	}
}

func (s *testAMT) writeResponse(conn net.Conn, status int, xml string, closing bool) bool {
	head := fmt.Sprintf("HTTP/1.1 %d %s\r\nServer: test\r\nContent-Type: application/soap+xml; charset=UTF-8\r\n", status, http.StatusText(status))
	if closing {
		head += "Connection: close\r\n"
	}
	if s.chunk == 0 {
		_, err := fmt.Fprintf(conn, "%sContent-Length: %d\r\n\r\n%s", head, len(xml), xml)
		return err == nil
	}
	if _, err := io.WriteString(conn, head+"Transfer-Encoding: chunked\r\n\r\n"); err != nil {
		return false
	}
	for rest := xml; rest != ""; {
		n := min(s.chunk, len(rest))
		// Size line and data go out in separate writes so reads split them too.
		if _, err := fmt.Fprintf(conn, "%04X\r", n); err != nil {
			return false
		}
		if _, err := fmt.Fprintf(conn, "\n%s\r\n", rest[:n]); err != nil {
			return false
		}
		rest = rest[n:]
	}
	_, err := io.WriteString(conn, "0\r\n\r\n")
	return err == nil
}

// checkDigest verifies an Authorization header independently of the client's digest code.
func (s *testAMT) checkDigest(h string) (bool, string) {
	if !strings.HasPrefix(h, "Digest ") {
		return false, ""
	}
	p := map[string]string{}
	for _, kv := range authParam.FindAllStringSubmatch(h, -1) {
		p[kv[1]] = kv[2]
	}
	sum := func(s string) string { b := md5.Sum([]byte(s)); return hex.EncodeToString(b[:]) }
	s.mu.Lock()
	defer s.mu.Unlock()
	ha1 := sum(s.user + ":" + s.realm + ":" + s.password)
	want := sum(ha1 + ":" + s.nonce + ":" + p["nc"] + ":" + p["cnonce"] + ":auth:" + sum("POST:/wsman"))
	if p["username"] != s.user || p["realm"] != s.realm || p["nonce"] != s.nonce || p["uri"] != "/wsman" ||
		p["qop"] != "auth" || p["response"] != want || p["nc"] <= s.lastNC {
		return false, p["nc"]
	}
	s.lastNC = p["nc"]
	return true, p["nc"]
}
