package wsman

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits on what a device may send; a CIRA peer is untrusted input.
const (
	// DefaultMaxResponseBytes bounds a response body unless Config.MaxResponseBytes says otherwise.
	DefaultMaxResponseBytes = 8 << 20
	maxHeaderBytes          = 64 << 10
	maxHeaderFields         = 128
)

// httpResponse is one response as the client needs it.
type httpResponse struct {
	StatusCode int
	Reason     string
	Header     http.Header
	Body       []byte
	Close      bool // the connection must not carry another request
}

func (r *httpResponse) header(name string) []string { return r.Header.Values(name) }

var (
	errNoResponse = httpErr("connection closed without a response")
	errCutShort   = httpErr("connection closed before the response was complete")
)

// wire is the connection as the response reader sees it: it counts the bytes that arrived (none at all is
// errNoResponse, which a reused connection may retry), keeps the connection's own read error apart from net/http's
// framing errors, caps what may arrive, and records the raw bytes for a relay.
type wire struct {
	r     io.Reader
	n     int64 // bytes read
	limit int64 // reads fail once n reaches it
	err   error // the connection's read error, if any
	raw   *[]byte
}

var errWireLimit = errors.New("response larger than its limit")

func (w *wire) Read(p []byte) (int, error) {
	if w.n >= w.limit {
		return 0, errWireLimit
	}
	if rest := w.limit - w.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := w.r.Read(p)
	w.n += int64(n)
	if w.raw != nil {
		*w.raw = append(*w.raw, p[:n]...)
	}
	switch {
	case err == nil || err == io.EOF:
	case isClosed(err):
		// A device that drops the connection ends it as a close would: a close-delimited body is complete,
		// anything else unfinished (or nothing at all) is told by readErr.
		err = io.EOF
	default:
		w.err = err
	}
	return n, err
}

// readers are the buffered readers of all exchanges: a fleet keeps one idle Client per device, and a response
// never leaves bytes behind (see readResponse), so none needs to outlive its exchange.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}

// readResponse reads exactly one response from r with net/http's parser: interim 1xx responses are skipped, the
// body (Content-Length, chunked split anywhere, or close-delimited; §8.2) is read whole and bounded by maxBody.
// Bytes beyond the response are an error, since a device connection carries one exchange at a time. raw, when
// non-nil, receives the response's bytes as they arrived.
func readResponse(r io.Reader, maxBody int, raw *[]byte) (*httpResponse, error) {
	br := readers.Get().(*bufio.Reader)
	w := &wire{r: r, raw: raw}
	br.Reset(w)
	defer func() {
		br.Reset(nil)
		readers.Put(br)
	}()
	var resp *http.Response
	for {
		// The header block may not exceed maxHeaderBytes, plus what the buffer reads ahead into the body.
		w.limit = w.n + maxHeaderBytes + int64(br.Size())
		var err error
		resp, err = http.ReadResponse(br, nil)
		if err != nil {
			return nil, readErr(w, err, "header")
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return nil, httpErr("unexpected 101 Switching Protocols")
		}
		if resp.StatusCode >= 200 {
			break
		}
	}
	fields := 0
	for _, vs := range resp.Header {
		fields += len(vs)
	}
	if fields > maxHeaderFields {
		return nil, httpErr("more than %d header fields", maxHeaderFields)
	}
	if resp.ContentLength > int64(maxBody) {
		return nil, ErrResponseTooLarge
	}
	// Chunk framing and trailers on top of the body are bounded too.
	w.limit = w.n + 2*int64(maxBody) + maxHeaderBytes
	body, err := readBody(resp.Body, maxBody)
	if err != nil {
		return nil, readErr(w, err, "body")
	}
	if len(body) > maxBody {
		return nil, ErrResponseTooLarge
	}
	if n := br.Buffered(); n > 0 {
		return nil, httpErr("%d unexpected bytes after the response", n)
	}
	return &httpResponse{
		StatusCode: resp.StatusCode,
		Reason:     strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode)+" "),
		Header:     resp.Header,
		Body:       body,
		Close:      resp.Close,
	}, nil
}

// bodies are the buffers bodies are read into; a body is then copied out at its size. io.ReadAll would grow a
// buffer of its own from 512 bytes for every answer, several times its size in garbage. A buffer grown past
// maxPooledBody by a rare large answer (an audit log page) is left to the collector.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBody = 64 << 10

// readBody reads r to its end, up to maxBody+1 bytes (one more tells a body too large).
func readBody(r io.Reader, maxBody int) ([]byte, error) {
	buf := bodies.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledBody {
			buf.Reset()
			bodies.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(io.LimitReader(r, int64(maxBody)+1)); err != nil {
		return nil, err
	}
	return bytes.Clone(buf.Bytes()), nil
}

// readErr tells the connection's failure (kept, so timeouts and resets stay recognisable) from a connection that
// closed early and from malformed input.
func readErr(w *wire, err error, part string) error {
	switch {
	case errors.Is(err, errWireLimit):
		if part == "header" {
			return httpErr("header block larger than %d bytes", maxHeaderBytes)
		}
		return ErrResponseTooLarge
	case w.err != nil:
		return w.err
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		if w.n == 0 {
			return errNoResponse
		}
		return errCutShort
	}
	return httpErr("malformed response %s: %v", part, err)
}

// roundTrip writes request to conn and reads one response, within the earlier of ctx's deadline and timeout. It
// reports how many bytes of the request conn accepted, from which failed makes the write outcome.
func roundTrip(ctx context.Context, conn net.Conn, request []byte, timeout time.Duration, maxBody int, raw *[]byte,
) (*httpResponse, int, error) {
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	// Cancellation unblocks I/O by moving the deadline into the past.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if n, err := conn.Write(request); err != nil {
		return nil, n, err
	}
	resp, err := readResponse(conn, maxBody, raw)
	if err != nil {
		return nil, len(request), err
	}
	if !resp.Close {
		_ = conn.SetDeadline(time.Time{})
	}
	return resp, len(request), nil
}

// ExchangeRaw writes one raw HTTP request to conn and returns AMT's answer as received, for a relay that carries it
// on to the client that made the request (one replica forwarding for another). It stops at the end of the
// response; the body is bounded by maxBody (DefaultMaxResponseBytes when <= 0); ctx bounds the exchange. A failure
// is an *ExchangeError: WrittenOf tells whether the request may have reached AMT.
func ExchangeRaw(ctx context.Context, conn net.Conn, request []byte, maxBody int) ([]byte, error) {
	if maxBody <= 0 {
		maxBody = DefaultMaxResponseBytes
	}
	timeout := 60 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	var raw []byte
	_, wrote, err := roundTrip(ctx, conn, request, timeout, maxBody, &raw)
	if err != nil {
		shown := err
		if ctxErr := ctx.Err(); ctxErr != nil {
			shown = ctxErr
		}
		return nil, failed(wrote, err, shown)
	}
	return raw, nil
}

// parseResponse parses one complete response held in memory (a test vector, a fuzz input): the bytes must end
// exactly where the response ends.
func parseResponse(raw []byte, maxBody int) (*httpResponse, error) {
	r := bytes.NewReader(raw)
	resp, err := readResponse(r, maxBody, nil)
	if err == nil && r.Len() > 0 {
		return nil, httpErr("%d unexpected bytes after the response", r.Len())
	}
	return resp, err
}
