package wsman

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// The three messages of protocol-rps-activation §7.11.
var chunkMsgs = []string{
	"This is a basic message 01\n.",
	"This is a longer message 02\r.",
	"This is a longer message\r\n with embedded \r\n i.e. certificates.\r\n",
}

const chunkedHead = "HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml; charset=UTF-8\r\nTransfer-Encoding: chunked\r\n\r\n"

// chunkedVector joins `len(msg)hex, msg, …, "0", "\r\n"` with CRLF as in §7.11.
func chunkedVector(sizes []string) string {
	var parts []string
	for i, m := range chunkMsgs {
		parts = append(parts, sizes[i], m)
	}
	parts = append(parts, "0", "\r\n")
	return strings.Join(parts, "\r\n")
}

func hexLens() []string {
	var s []string
	for _, m := range chunkMsgs {
		s = append(s, fmt.Sprintf("%x", len(m)))
	}
	return s
}

func TestChunkVectors(t *testing.T) {
	valid := chunkedVector(hexLens())
	resp, err := parseResponse([]byte(chunkedHead+valid), DefaultMaxResponseBytes)
	require.NoError(t, err)
	require.Equal(t, strings.Join(chunkMsgs, ""), string(resp.Body))

	larger, smaller := hexLens(), hexLens()
	larger[1] = fmt.Sprintf("%x", len(chunkMsgs[1])+1)
	smaller[1] = fmt.Sprintf("%x", len(chunkMsgs[1])-1)
	rejected := map[string]string{
		"declared larger":      chunkedVector(larger),
		"declared smaller":     chunkedVector(smaller),
		"missing terminator":   strings.TrimSuffix(valid, "0\r\n\r\n"),
		"terminator truncated": strings.TrimSuffix(valid, "\r\n"),
		"trailing bytes":       valid + "junk",
		"non-hex size":         chunkedVector([]string{"1g", "1e", "40"}),
		"empty size":           chunkedVector([]string{"", "1e", "40"}),
	}
	for name, body := range rejected {
		t.Run(name, func(t *testing.T) {
			_, err := parseResponse([]byte(chunkedHead+body), DefaultMaxResponseBytes)
			var pe *ProtocolError
			require.ErrorAs(t, err, &pe)
		})
	}
}

// amt200 is the §8.2 / §7.2 shape: AMT header block, 4-digit uppercase chunk sizes, terminator.
func amt200(body string, chunk int) string {
	var b strings.Builder
	b.WriteString("HTTP/1.1 200 OK\r\nDate: Mon, 31 Jan 2022 10:23:04 GMT\r\nServer: Intel(R) Active Management Technology 15.0.23.1706\r\nX-Frame-Options: DENY\r\nContent-Type: application/soap+xml; charset=UTF-8\r\nTransfer-Encoding: chunked\r\n\r\n")
	for len(body) > 0 {
		n := min(chunk, len(body))
		fmt.Fprintf(&b, "%04X\r\n%s\r\n", n, body[:n])
		body = body[n:]
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}

// §7.2: AMT's 401 (Content-Length body, Connection: close).
const amt401 = "HTTP/1.1 401 Unauthorized\r\n" +
	`WWW-Authenticate: Digest realm="Digest:A4070000000000000000000000000000", nonce="wlbEK1EtAAAAAAAAWW5aUHFp+mQQ1j63",stale="false",qop="auth"` + "\r\n" +
	"Content-Type: text/html\r\nServer: Intel(R) Active Management Technology 11.8.50.3425\r\nContent-Length: 17\r\nConnection: close\r\n\r\n" +
	"<html>x</html>\r\n\n"

// splitReader returns its input in reads of at most the given sizes, the rest in one read.
type splitReader struct {
	data  []byte
	sizes []int
}

func (r *splitReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(r.data)
	if len(r.sizes) > 0 {
		n, r.sizes = min(n, r.sizes[0]), r.sizes[1:]
	}
	n = copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// Every split of the response into two reads gives the same result, as do byte-at-a-time reads (§8.2: AMT splits
// chunks anywhere, APF splits them again).
func TestParserSplitAnywhere(t *testing.T) {
	xml := generalSettingsResponse("1")
	for name, raw := range map[string]string{"chunked 0x220": amt200(xml, 0x220), "401": amt401} {
		t.Run(name, func(t *testing.T) {
			want, err := parseResponse([]byte(raw), DefaultMaxResponseBytes)
			require.NoError(t, err)
			for cut := 0; cut <= len(raw); cut++ {
				var got []byte
				resp, err := readResponse(&splitReader{data: []byte(raw), sizes: []int{cut}}, DefaultMaxResponseBytes, &got)
				require.NoError(t, err, "cut %d", cut)
				require.Equal(t, want, resp, "cut %d", cut)
				require.Equal(t, raw, string(got), "raw bytes, cut %d", cut)
			}
			resp, err := readResponse(iotest.OneByteReader(strings.NewReader(raw)), DefaultMaxResponseBytes, nil)
			require.NoError(t, err)
			require.Equal(t, want, resp)
		})
	}
}

func TestParserResponses(t *testing.T) {
	xml := generalSettingsResponse("1")
	r, err := parseResponse([]byte(amt200(xml, 0x2FA)), DefaultMaxResponseBytes)
	require.NoError(t, err)
	require.Equal(t, 200, r.StatusCode)
	require.Equal(t, "OK", r.Reason)
	require.False(t, r.Close)
	require.Equal(t, xml, string(r.Body))

	r, err = parseResponse([]byte(amt401), DefaultMaxResponseBytes)
	require.NoError(t, err)
	require.Equal(t, 401, r.StatusCode)
	require.True(t, r.Close)
	require.Len(t, r.header("www-authenticate"), 1)
	require.Equal(t, "<html>x</html>\r\n\n", string(r.Body))

	// Close-delimited body, HTTP/1.0, interim 100, chunk extension and trailers, bare LF line ends.
	r, err = parseResponse([]byte("HTTP/1.0 200 OK\r\n\r\nhello"), DefaultMaxResponseBytes)
	require.NoError(t, err)
	require.Equal(t, "hello", string(r.Body))
	require.True(t, r.Close)

	r, err = parseResponse([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: y\r\n\r\n"), DefaultMaxResponseBytes)
	require.NoError(t, err)
	require.Equal(t, "abc", string(r.Body))
	require.False(t, r.Close)

	r, err = parseResponse([]byte("HTTP/1.1 204 No Content\r\n\r\n"), DefaultMaxResponseBytes)
	require.NoError(t, err)
	require.Empty(t, r.Body)

	// net/http lets chunked framing override a Content-Length next to it (RFC 9112 §6.3).
	r, err = parseResponse([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"), DefaultMaxResponseBytes)
	require.NoError(t, err)
	require.Equal(t, "a", string(r.Body))
}

func TestParserRejects(t *testing.T) {
	tests := map[string]string{
		"bad version":           "HTTP/2 200 OK\r\n\r\n",
		"bad code":              "HTTP/1.1 2x0 OK\r\n\r\n",
		"no space after code":   "HTTP/1.1 200OK\r\n\r\n",
		"header without colon":  "HTTP/1.1 200 OK\r\nbroken\r\n\r\n",
		"folding first line":    "HTTP/1.1 200 OK\r\n c\r\n\r\n",
		"bad length":            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"conflicting lengths":   "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
		"gzip":                  "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"bare LF in chunk size": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\na\r\n0\r\n\r\n",
		"truncated header":      "HTTP/1.1 200 OK\r\nContent-Le",
		"short body":            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
		"101":                   "HTTP/1.1 101 Switching Protocols\r\n\r\n",
		"body too large":        "HTTP/1.1 200 OK\r\nContent-Length: 1025\r\n\r\n",
		"chunk too large":       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n",
		"eof body too large":    "HTTP/1.1 200 OK\r\n\r\n" + strings.Repeat("x", 1025),
	}
	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := parseResponse([]byte(raw), 1024)
			var pe *ProtocolError
			require.ErrorAs(t, err, &pe)
		})
	}
	_, err := parseResponse(nil, 1024)
	require.ErrorIs(t, err, errNoResponse)
}

func TestParserHeaderLimits(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 200 OK\r\n")
	for i := range maxHeaderFields + 1 {
		fmt.Fprintf(&b, "X-%d: v\r\n", i)
	}
	b.WriteString("\r\n")
	_, err := parseResponse(b.Bytes(), 1024)
	require.ErrorContains(t, err, "header fields")

	b.Reset()
	b.WriteString("HTTP/1.1 200 OK\r\n")
	for range (maxHeaderBytes+4096)/4000 + 1 {
		fmt.Fprintf(&b, "X: %s\r\n", strings.Repeat("v", 4000))
	}
	b.WriteString("\r\n")
	_, err = parseResponse(b.Bytes(), 1024)
	require.ErrorContains(t, err, "header block")
}

// FuzzResponseParser: the parser never panics, never exceeds the body limit, and gives the same outcome however
// the input is split into reads (the first byte picks the read size); the raw bytes it records are the response.
func FuzzResponseParser(f *testing.F) {
	f.Add(byte(7), []byte(amt200(generalSettingsResponse("1"), 0x220)))
	f.Add(byte(3), []byte(amt401))
	f.Add(byte(1), []byte(chunkedHead+chunkedVector(hexLens())))
	f.Add(byte(5), []byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\nTransfer-Encoding: chunked\n\n3;e\r\nabc\r\n0\r\nT: y\r\n\r\n"))
	f.Add(byte(2), []byte("HTTP/1.1 200 OK\r\n\r\nclose-delimited"))
	const limit = 4096
	f.Fuzz(func(t *testing.T, step byte, raw []byte) {
		whole, werr := parseResponse(raw, limit)
		if werr == nil && len(whole.Body) > limit {
			t.Fatalf("body %d bytes exceeds limit", len(whole.Body))
		}
		size := int(step%32) + 1
		sizes := make([]int, len(raw)/size+1)
		for i := range sizes {
			sizes[i] = size
		}
		var got []byte
		r := &splitReader{data: raw, sizes: sizes}
		resp, err := readResponse(r, limit, &got)
		if err == nil && len(r.data) > 0 {
			err = httpErr("trailing")
		}
		if (err == nil) != (werr == nil) {
			t.Fatalf("split reads (size %d): %v; whole: %v", size, err, werr)
		}
		if err != nil {
			return
		}
		if !bytes.Equal(resp.Body, whole.Body) {
			t.Fatalf("split reads changed the body")
		}
		if !bytes.Equal(got, raw) {
			t.Fatalf("raw bytes %q, want %q", got, raw)
		}
	})
}
