package wsman

import (
	"bytes"
	"strings"
)

// Limits on what a device may send; a CIRA peer is untrusted input.
const (
	// DefaultMaxResponseBytes bounds a response body unless Config.MaxResponseBytes says otherwise.
	DefaultMaxResponseBytes = 8 << 20
	maxLineBytes            = 8 << 10
	maxHeaderBytes          = 64 << 10
	maxHeaderFields         = 128
)

type parseState uint8

const (
	stStatus    parseState = iota // status line (empty lines before it are skipped)
	stHeader                      // header fields until the empty line
	stBodyLen                     // Content-Length body
	stChunkSize                   // chunk-size line (extensions ignored)
	stChunkData                   // chunk payload
	stChunkEnd                    // CRLF after the payload
	stTrailer                     // trailer fields until the empty line
	stBodyEOF                     // body delimited by connection close
	stDone
)

type headerField struct {
	Name  string // lower case
	Value string
}

// httpResponse is one parsed HTTP/1.x response.
type httpResponse struct {
	StatusCode int
	Reason     string
	Headers    []headerField
	Body       []byte
	Close      bool // the connection must not carry another request
}

func (r *httpResponse) header(name string) []string {
	var vs []string
	for _, h := range r.Headers {
		if h.Name == name {
			vs = append(vs, h.Value)
		}
	}
	return vs
}

// responseParser is an incremental HTTP/1.1 response parser: feed it bytes as they arrive, split anywhere (§8.2
// shows AMT splitting chunks inside attribute values; APF splits them again).
type responseParser struct {
	maxBody     int
	state       parseState
	line        []byte // partial line carried over between feeds
	headerBytes int
	remaining   int64 // bytes left in the Content-Length body or current chunk
	length      int64 // Content-Length, -1 when absent
	chunked     bool
	http10      bool
	keepAlive   bool
	started     bool
	resp        httpResponse
}

func newResponseParser(maxBody int) *responseParser {
	return &responseParser{maxBody: maxBody, length: -1}
}

func (p *responseParser) done() bool { return p.state == stDone }

// feed consumes bytes of the response and returns how many it used; once the response is complete it stops, so
// n < len(b) means bytes past the end of the response.
func (p *responseParser) feed(b []byte) (int, error) {
	n := 0
	if len(b) > 0 {
		p.started = true
	}
	for n < len(b) && p.state != stDone {
		switch p.state {
		case stBodyLen, stChunkData:
			k := int64(len(b) - n)
			if k > p.remaining {
				k = p.remaining
			}
			p.resp.Body = append(p.resp.Body, b[n:n+int(k)]...)
			n += int(k)
			p.remaining -= k
			if p.remaining == 0 {
				if p.chunked {
					p.state = stChunkEnd
				} else {
					p.state = stDone
				}
			}
		case stBodyEOF:
			if len(p.resp.Body)+len(b)-n > p.maxBody {
				return n, ErrResponseTooLarge
			}
			p.resp.Body = append(p.resp.Body, b[n:]...)
			n = len(b)
		default:
			i := bytes.IndexByte(b[n:], '\n')
			if i < 0 {
				if len(p.line)+len(b)-n > maxLineBytes {
					return n, httpErr("line longer than %d bytes", maxLineBytes)
				}
				p.line = append(p.line, b[n:]...)
				return len(b), nil
			}
			line := b[n : n+i]
			if len(p.line) > 0 {
				p.line = append(p.line, line...)
				line = p.line
			}
			n += i + 1
			if len(line) > maxLineBytes {
				return n, httpErr("line longer than %d bytes", maxLineBytes)
			}
			crlf := len(line) > 0 && line[len(line)-1] == '\r'
			if crlf {
				line = line[:len(line)-1]
			}
			err := p.handleLine(line, crlf)
			p.line = p.line[:0]
			if err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// eof tells the parser the connection closed. It completes a close-delimited body; anything else unfinished is an
// error. errNoResponse means not a single byte arrived (a reused connection the peer had already closed).
func (p *responseParser) eof() error {
	switch {
	case p.state == stDone:
		return nil
	case p.state == stBodyEOF:
		p.state = stDone
		return nil
	case !p.started:
		return errNoResponse
	default:
		return errCutShort
	}
}

var (
	errNoResponse = httpErr("connection closed without a response")
	errCutShort   = httpErr("connection closed before the response was complete")
)

// handleLine takes one line without its terminator; bare LF is tolerated except after chunk data, where only CRLF
// tells a well-formed chunk from one whose declared size was too large.
func (p *responseParser) handleLine(line []byte, crlf bool) error {
	switch p.state {
	case stStatus, stHeader, stTrailer:
		p.headerBytes += len(line) + 2
		if p.headerBytes > maxHeaderBytes {
			return httpErr("header block larger than %d bytes", maxHeaderBytes)
		}
	}
	switch p.state {
	case stStatus:
		if len(line) == 0 {
			return nil
		}
		p.state = stHeader
		return p.parseStatus(line)
	case stHeader:
		if len(line) == 0 {
			return p.endHeader()
		}
		return p.parseField(line)
	case stChunkSize:
		return p.parseChunkSize(line)
	case stChunkEnd:
		if len(line) != 0 || !crlf {
			return httpErr("chunk data longer than its declared size")
		}
		p.state = stChunkSize
		return nil
	case stTrailer:
		if len(line) == 0 {
			p.state = stDone
		}
		return nil
	}
	return httpErr("parser in unexpected state %d", p.state)
}

func (p *responseParser) parseStatus(line []byte) error {
	s := string(line)
	switch {
	case strings.HasPrefix(s, "HTTP/1.1 "):
	case strings.HasPrefix(s, "HTTP/1.0 "):
		p.http10 = true
	default:
		return httpErr("bad status line %q", truncate(s))
	}
	s = s[len("HTTP/1.1 "):]
	if len(s) < 3 || (len(s) > 3 && s[3] != ' ') {
		return httpErr("bad status code in %q", truncate(string(line)))
	}
	code := 0
	for _, c := range s[:3] {
		if c < '0' || c > '9' {
			return httpErr("bad status code in %q", truncate(string(line)))
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 || code > 599 {
		return httpErr("status code %d out of range", code)
	}
	p.resp.StatusCode = code
	if len(s) > 4 {
		p.resp.Reason = s[4:]
	}
	return nil
}

func (p *responseParser) parseField(line []byte) error {
	if line[0] == ' ' || line[0] == '\t' {
		return httpErr("obsolete header line folding")
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return httpErr("malformed header line %q", truncate(string(line)))
	}
	for _, c := range line[:colon] {
		if !isTokenChar(c) {
			return httpErr("malformed header name %q", truncate(string(line[:colon])))
		}
	}
	if len(p.resp.Headers) == maxHeaderFields {
		return httpErr("more than %d header fields", maxHeaderFields)
	}
	name := strings.ToLower(string(line[:colon]))
	value := strings.Trim(string(line[colon+1:]), " \t")
	p.resp.Headers = append(p.resp.Headers, headerField{Name: name, Value: value})
	switch name {
	case "content-length":
		n, ok := parseDecimal(value)
		if !ok {
			return httpErr("bad Content-Length %q", truncate(value))
		}
		if p.length >= 0 && p.length != n {
			return httpErr("conflicting Content-Length values")
		}
		p.length = n
	case "transfer-encoding":
		if !strings.EqualFold(value, "chunked") {
			return httpErr("unsupported Transfer-Encoding %q", truncate(value))
		}
		p.chunked = true
	case "connection":
		for _, tok := range strings.Split(value, ",") {
			switch strings.ToLower(strings.TrimSpace(tok)) {
			case "close":
				p.resp.Close = true
			case "keep-alive":
				p.keepAlive = true
			}
		}
	}
	return nil
}

func (p *responseParser) endHeader() error {
	code := p.resp.StatusCode
	if code >= 100 && code < 200 {
		if code == 101 {
			return httpErr("unexpected 101 Switching Protocols")
		}
		// Interim response: the real one follows.
		*p = responseParser{maxBody: p.maxBody, length: -1, started: true, headerBytes: p.headerBytes}
		return nil
	}
	if p.http10 && !p.keepAlive {
		p.resp.Close = true
	}
	switch {
	case code == 204 || code == 304:
		p.state = stDone
	case p.chunked:
		// A Content-Length next to chunked framing is ignored but taints the connection (RFC 9112 §6.3).
		if p.length >= 0 {
			p.resp.Close = true
		}
		p.state = stChunkSize
	case p.length >= 0:
		if p.length > int64(p.maxBody) {
			return ErrResponseTooLarge
		}
		p.resp.Body = make([]byte, 0, p.length)
		p.remaining = p.length
		p.state = stBodyLen
		if p.length == 0 {
			p.state = stDone
		}
	default:
		p.resp.Close = true
		p.state = stBodyEOF
	}
	return nil
}

func (p *responseParser) parseChunkSize(line []byte) error {
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.Trim(line, " \t")
	if len(line) == 0 {
		return httpErr("empty chunk size")
	}
	limit := int64(p.maxBody - len(p.resp.Body))
	var size int64
	for _, c := range line {
		d := unhex(c)
		if d < 0 {
			return httpErr("bad chunk size %q", truncate(string(line)))
		}
		size = size<<4 | int64(d)
		if size > limit {
			return ErrResponseTooLarge
		}
	}
	if size == 0 {
		p.state = stTrailer
		return nil
	}
	p.remaining = size
	p.state = stChunkData
	return nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func parseDecimal(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}

func isTokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// parseResponse parses one complete response held in memory (a relayed rpc-go `response` payload, a test vector):
// the bytes must end exactly where the response ends.
func parseResponse(raw []byte, maxBody int) (*httpResponse, error) {
	p := newResponseParser(maxBody)
	n, err := p.feed(raw)
	if err != nil {
		return nil, err
	}
	if n < len(raw) {
		return nil, httpErr("%d unexpected bytes after the response", len(raw)-n)
	}
	if err := p.eof(); err != nil {
		return nil, err
	}
	return &p.resp, nil
}
