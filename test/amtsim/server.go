package amtsim

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dmrm/dm-manager/test/amtsim/httpwire"
	"github.com/dmrm/dm-manager/test/amtsim/soap"
)

// unauthorizedPage is the HTML body of a 401, as AMT sends one (§7.2).
const unauthorizedPage = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\" >\n" +
	"<html><head><title>Intel&reg; Active Management Technology</title></head>\n<body>\n" +
	"<h2>Log on failed. Incorrect user name or password, or user account temporarily locked.</h2>\n" +
	"</body>\n</html>\n"

// ServeConn serves WS-Man on a connection from the network side (a CIRA channel to port
// 16992, or plain TCP in tests) until the peer closes it, a request says
// "Connection: close", an error occurs or AMT's network is cut.
// Remote TLS in force without non-TLS connections refuses it (tlsconfig.go).
func (d *Device) ServeConn(conn net.Conn) {
	if d.refusesPlainRemote() {
		_ = conn.Close()
		return
	}
	d.serve(conn, false)
}

// ServeLocal serves WS-Man on a connection from the host side (LMS on 127.0.0.1:16992,
// which rpc-go relays to). Only here does the local system account authenticate. A TLS-enforcing device that is
// set up refuses it (tls.go).
func (d *Device) ServeLocal(conn net.Conn) {
	if d.refusesPlainLocal() {
		_ = conn.Close()
		return
	}
	d.serve(conn, true)
}

func (d *Device) serve(conn net.Conn, local bool) {
	defer conn.Close()
	d.lock()
	if !d.reachable {
		d.unlock()
		return
	}
	if d.conns == nil {
		d.conns = map[net.Conn]struct{}{}
	}
	d.conns[conn] = struct{}{}
	d.connSeq++
	rng := rand.New(rand.NewPCG(d.seed, d.connSeq)) //nolint:gosec // G404: reproducible chunk splits, no secret
	d.unlock()
	defer func() {
		d.lock()
		delete(d.conns, conn)
		if len(d.conns) == 0 {
			d.conns = nil
		}
		d.unlock()
	}()
	br := bufio.NewReaderSize(conn, 4096)
	peer := addrText(conn.RemoteAddr())
	for {
		_ = conn.SetReadDeadline(time.Now().Add(d.cfg.IdleTimeout))
		req, err := httpwire.ReadRequest(br)
		if err != nil {
			var he *httpwire.Error
			if errors.As(err, &he) {
				_, _ = conn.Write(d.htmlError(he.Status))
			}
			return
		}
		_ = conn.SetReadDeadline(time.Time{})
		if _, overTLS := conn.(*tls.Conn); overTLS && d.dropTLSRequest(req.Body) {
			return
		}
		buf := getBuf()
		out, keep, post := d.handle(*buf, req, local, peer, rng)
		_, werr := conn.Write(out)
		putBuf(buf, out)
		if post != nil {
			post()
		}
		if werr != nil || !keep || req.Close {
			return
		}
	}
}

// dropConnections closes every open connection (AMT restarts its stack on unprovision).
func (d *Device) dropConnections() {
	d.lock()
	conns := make([]net.Conn, 0, len(d.conns))
	for c := range d.conns {
		conns = append(conns, c)
	}
	d.unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// respBufs recycles response buffers: a fleet answers thousands of requests a second,
// each rendered twice (envelope, then chunked framing), and a buffer kept per
// connection would sit idle between them.
var respBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuf keeps a rare large response (a long Pull) out of the pool.
const maxPooledBuf = 64 << 10

func getBuf() *[]byte { return respBufs.Get().(*[]byte) }

// putBuf pools buf again with b, appended to it and no longer used, as its storage.
func putBuf(buf *[]byte, b []byte) {
	if cap(b) > maxPooledBuf {
		return
	}
	*buf = b[:0]
	respBufs.Put(buf)
}

// handle appends the answer to one request to dst; keep reports whether the connection
// stays open and post, if set, runs after the response has been written.
func (d *Device) handle(dst []byte, req *httpwire.Request, local bool, peer string, rng *rand.Rand) ([]byte, bool, func()) {
	if req.Method != http.MethodPost || req.URI != "/wsman" {
		return d.htmlError(http.StatusNotFound), false, nil
	}
	if ct, ok := req.Get("Content-Type"); ok && !soapContentType(ct) {
		return d.htmlError(http.StatusUnsupportedMediaType), false, nil
	}
	d.lock()
	user, res := d.authenticate(req, local)
	var challenge string
	if res != authOK {
		challenge = d.challenge(res == authStale)
	}
	d.unlock()
	if res != authOK {
		// AMT closes the connection after every 401 (§8.2), so clients re-send on a new one.
		hdr := []httpwire.Header{
			{Name: "WWW-Authenticate", Value: challenge},
			{Name: "Content-Type", Value: "text/html"},
			{Name: "Server", Value: d.serverName()},
			{Name: "Connection", Value: "close"},
		}
		return httpwire.AppendFixed(dst, http.StatusUnauthorized, hdr, []byte(unauthorizedPage)), false, nil
	}
	env, fault := soap.ParseRequest(req.Body)
	d.lock()
	msgID := d.nextMessageID()
	var (
		reply soap.Reply
		post  func()
	)
	if fault == nil {
		c := &call{d: d, req: env, local: local, who: initiator{user: user, addr: peer}}
		reply, fault, post = d.dispatch(c)
	}
	d.unlock()
	status := http.StatusOK
	buf := getBuf()
	var body []byte
	if fault != nil {
		status, post = http.StatusBadRequest, nil
		body = soap.AppendFault(*buf, env.MessageID, msgID, fault)
	} else {
		reply.RelatesTo, reply.MessageID, reply.ResourceURI = env.MessageID, msgID, env.ResourceURI
		body = soap.AppendEnvelope(*buf, reply)
	}
	hdr := d.soapHeaders()
	out := httpwire.AppendChunked(dst, status, hdr[:], body, rng)
	putBuf(buf, body)
	return out, true, post
}

// soapContentType reports whether a Content-Type is SOAP's, in any case. Clients send it
// in lower case, which needs no lower-cased copy.
func soapContentType(ct string) bool {
	const soapType = "application/soap+xml"
	return strings.HasPrefix(ct, soapType) || strings.HasPrefix(strings.ToLower(ct), soapType)
}

// soapHeaders returns an array, not a slice, so that the fields stay off the heap.
func (d *Device) soapHeaders() [4]httpwire.Header {
	return [4]httpwire.Header{
		{Name: "Date", Value: time.Now().UTC().Format(http.TimeFormat)},
		{Name: "Server", Value: d.serverName()},
		{Name: "X-Frame-Options", Value: "DENY"},
		{Name: "Content-Type", Value: "application/soap+xml; charset=UTF-8"},
	}
}

func (d *Device) serverName() string {
	return "Intel(R) Active Management Technology " + d.cfg.Version + "." + d.cfg.Build
}

// htmlError is AMT's framing for refused requests: text/html, Content-Length, close.
func (d *Device) htmlError(status int) []byte {
	body := fmt.Sprintf("<html><head><title>%d %s</title></head><body>%d %s</body></html>\n",
		status, http.StatusText(status), status, http.StatusText(status))
	hdr := []httpwire.Header{
		{Name: "Content-Type", Value: "text/html"},
		{Name: "Server", Value: d.serverName()},
		{Name: "Connection", Value: "close"},
	}
	return httpwire.AppendFixed(nil, status, hdr, []byte(body))
}

// nextMessageID numbers responses the way AMT does (§9.2): "%012X" of the sequence.
func (d *Device) nextMessageID() string {
	const prefix = "uuid:00000000-8086-8086-8086-"
	d.msgSeq++
	var id [len(prefix) + 12]byte
	copy(id[:], prefix)
	v := d.msgSeq // a uint32: the 12 digits always hold it
	for i := len(id) - 1; i >= len(prefix); i-- {
		id[i] = "0123456789ABCDEF"[v&0xf]
		v >>= 4
	}
	return string(id[:])
}

// Listen serves the device's WS-Man on a TCP listener until it is closed; local selects
// host-side (LMS) semantics. It returns when Accept fails.
func (d *Device) Listen(l net.Listener, local bool) error {
	for {
		conn, err := l.Accept()
		if err != nil {
			return err
		}
		go d.serve(conn, local)
	}
}
