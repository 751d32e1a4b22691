// Package httpwire is the simulated AMT's HTTP/1.1 layer: a strict request parser
// (Content-Length and chunked bodies, as RPS and MPS send them) and the response
// framing AMT firmware uses (protocol-cira-wsman §8.2, protocol-rps-activation §1.6).
// It does no I/O beyond the reader/writer it is given and knows nothing of WS-Man.
package httpwire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits of the parser. AMT's own buffers are small; a request larger than this is
// refused rather than buffered.
const (
	MaxLineBytes = 8 << 10
	MaxHeaders   = 64
	MaxBodyBytes = 256 << 10
)

// Header is one request header field in arrival order.
type Header struct {
	Name  string
	Value string
}

// Request is one parsed HTTP/1.1 request with its whole body.
type Request struct {
	Method  string
	URI     string
	Proto   string
	Headers []Header
	Body    []byte
	// Close is set when the client sent "Connection: close".
	Close bool
	// Chunked records how the body was framed.
	Chunked bool
}

// Get returns the first value of the named header (case-insensitive).
func (r *Request) Get(name string) (string, bool) {
	for _, h := range r.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value, true
		}
	}
	return "", false
}

// count returns how many times the named header occurs.
func (r *Request) count(name string) int {
	n := 0
	for _, h := range r.Headers {
		if strings.EqualFold(h.Name, name) {
			n++
		}
	}
	return n
}

// Error is a malformed request; Status is the HTTP status to answer with before closing.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("http %d: %s", e.Status, e.Reason) }

func badRequest(format string, a ...any) error {
	return &Error{Status: 400, Reason: fmt.Sprintf(format, a...)}
}

// ReadRequest reads one request. It returns io.EOF when the peer closed the connection
// before sending a byte, io.ErrUnexpectedEOF when it closed mid-request, and *Error for
// a request that must be refused.
func ReadRequest(br *bufio.Reader) (*Request, error) {
	line, err := readLine(br)
	if err != nil {
		return nil, err
	}
	req, err := parseRequestLine(line)
	if err != nil {
		return nil, err
	}
	if err := readHeaders(br, req); err != nil {
		return nil, err
	}
	if err := readBody(br, req); err != nil {
		return nil, err
	}
	return req, nil
}

func parseRequestLine(line string) (*Request, error) {
	method, rest, ok1 := strings.Cut(line, " ")
	uri, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || strings.Contains(proto, " ") {
		return nil, badRequest("malformed request line")
	}
	if method == "" || !isToken(method) {
		return nil, badRequest("malformed method")
	}
	if uri == "" || strings.ContainsFunc(uri, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, badRequest("malformed request target")
	}
	if proto != "HTTP/1.1" {
		return nil, &Error{Status: 505, Reason: "only HTTP/1.1 is supported"}
	}
	// Room for the header fields MPS and RPS send, so that readHeaders does not regrow.
	return &Request{Method: method, URI: uri, Proto: proto, Headers: make([]Header, 0, 8)}, nil
}

func readHeaders(br *bufio.Reader, req *Request) error {
	for {
		line, err := readLine(br)
		if err != nil {
			return unexpected(err)
		}
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return badRequest("obsolete header line folding")
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || !isToken(name) {
			return badRequest("malformed header field")
		}
		if len(req.Headers) == MaxHeaders {
			return &Error{Status: 431, Reason: "too many header fields"}
		}
		value = strings.Trim(value, " \t")
		if strings.ContainsFunc(value, func(r rune) bool { return (r < ' ' && r != '\t') || r == 0x7f }) {
			return badRequest("control character in header %q", name)
		}
		req.Headers = append(req.Headers, Header{Name: name, Value: value})
	}
	if req.count("Host") != 1 {
		return badRequest("exactly one Host header is required")
	}
	if v, ok := req.Get("Connection"); ok {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "close") {
				req.Close = true
			}
		}
	}
	return nil
}

func readBody(br *bufio.Reader, req *Request) error {
	te, hasTE := req.Get("Transfer-Encoding")
	clCount := req.count("Content-Length")
	switch {
	case hasTE && clCount > 0:
		// RFC 7230 §3.3.3: a request with both is a smuggling vector; refuse it.
		return badRequest("both Transfer-Encoding and Content-Length")
	case hasTE:
		if req.count("Transfer-Encoding") != 1 || !strings.EqualFold(strings.TrimSpace(te), "chunked") {
			return &Error{Status: 501, Reason: "unsupported transfer coding"}
		}
		body, err := readChunked(br)
		if err != nil {
			return err
		}
		req.Body, req.Chunked = body, true
		return nil
	case clCount > 0:
		n, err := contentLength(req)
		if err != nil {
			return err
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(br, body); err != nil {
			return unexpected(err)
		}
		req.Body = body
		return nil
	case req.Method == "POST" || req.Method == "PUT":
		return &Error{Status: 411, Reason: "length required"}
	default:
		return nil
	}
}

func contentLength(req *Request) (int, error) {
	var n int64 = -1
	for _, h := range req.Headers {
		if !strings.EqualFold(h.Name, "Content-Length") {
			continue
		}
		if h.Value == "" || len(h.Value) > 10 || strings.Trim(h.Value, "0123456789") != "" {
			return 0, badRequest("malformed Content-Length")
		}
		v, err := strconv.ParseInt(h.Value, 10, 64)
		if err != nil {
			return 0, badRequest("malformed Content-Length")
		}
		if n >= 0 && v != n {
			return 0, badRequest("conflicting Content-Length values")
		}
		n = v
	}
	if n > MaxBodyBytes {
		return 0, &Error{Status: 413, Reason: "request body too large"}
	}
	return int(n), nil
}

func readChunked(br *bufio.Reader) ([]byte, error) {
	var body []byte
	for {
		line, err := readLine(br)
		if err != nil {
			return nil, unexpected(err)
		}
		sizeText, _, _ := strings.Cut(line, ";")
		sizeText = strings.TrimRight(sizeText, " \t")
		if sizeText == "" || len(sizeText) > 8 {
			return nil, badRequest("malformed chunk size")
		}
		size, err := strconv.ParseUint(sizeText, 16, 32)
		if err != nil {
			return nil, badRequest("malformed chunk size")
		}
		if size == 0 {
			break
		}
		if len(body)+int(size) > MaxBodyBytes {
			return nil, &Error{Status: 413, Reason: "request body too large"}
		}
		start := len(body)
		body = append(body, make([]byte, size)...)
		if _, err := io.ReadFull(br, body[start:]); err != nil {
			return nil, unexpected(err)
		}
		crlf, err := readLine(br)
		if err != nil {
			return nil, unexpected(err)
		}
		if crlf != "" {
			return nil, badRequest("chunk data longer than its size")
		}
	}
	// Trailer section: header lines until the empty line.
	for {
		line, err := readLine(br)
		if err != nil {
			return nil, unexpected(err)
		}
		if line == "" {
			return body, nil
		}
		if !strings.Contains(line, ":") {
			return nil, badRequest("malformed trailer")
		}
	}
}

// readLine reads one CRLF-terminated line without the terminator. A bare LF is refused.
func readLine(br *bufio.Reader) (string, error) {
	var buf []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(buf)+len(frag) > MaxLineBytes {
			return "", &Error{Status: 431, Reason: "line too long"}
		}
		if err == nil && buf == nil {
			// The whole line is in the reader's buffer: copy it once, into the string.
			buf = frag
			break
		}
		buf = append(buf, frag...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(buf) > 0 {
			return "", io.ErrUnexpectedEOF
		}
		return "", err
	}
	if len(buf) < 2 || buf[len(buf)-2] != '\r' {
		return "", badRequest("line not terminated by CRLF")
	}
	return string(buf[:len(buf)-2]), nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}
