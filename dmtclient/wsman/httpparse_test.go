package wsman

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

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

// Every split of the response into two feeds gives the same result, as does byte-at-a-time feeding.
func TestParserSplitAnywhere(t *testing.T) {
	xml := generalSettingsResponse("1")
	for name, raw := range map[string]string{"chunked 0x220": amt200(xml, 0x220), "401": amt401} {
		t.Run(name, func(t *testing.T) {
			want, err := parseResponse([]byte(raw), DefaultMaxResponseBytes)
			require.NoError(t, err)
			for cut := 0; cut <= len(raw); cut++ {
				p := newResponseParser(DefaultMaxResponseBytes)
				n1, err := p.feed([]byte(raw[:cut]))
				require.NoError(t, err)
				n2, err := p.feed([]byte(raw[cut:]))
				require.NoError(t, err)
				require.Equal(t, len(raw), n1+n2)
				require.True(t, p.done(), "cut %d", cut)
				require.Equal(t, want, &p.resp, "cut %d", cut)
			}
			p := newResponseParser(DefaultMaxResponseBytes)
			for i := range len(raw) {
				_, err := p.feed([]byte{raw[i]})
				require.NoError(t, err)
			}
			require.Equal(t, want, &p.resp)
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

	r, err = parseResponse([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3;ext=1\nabc\r\n0\nX-Trailer: y\n\n"), DefaultMaxResponseBytes)
	require.NoError(t, err)
	require.Equal(t, "abc", string(r.Body))
	require.False(t, r.Close)

	r, err = parseResponse([]byte("HTTP/1.1 204 No Content\r\n\r\n"), DefaultMaxResponseBytes)
	require.NoError(t, err)
	require.Empty(t, r.Body)

	r, err = parseResponse([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"), DefaultMaxResponseBytes)
	require.NoError(t, err)
	require.True(t, r.Close, "Content-Length next to chunked taints the connection")
}

func TestParserRejects(t *testing.T) {
	long := strings.Repeat("a", maxLineBytes+1)
	tests := map[string]string{
		"bad version":          "HTTP/2 200 OK\r\n\r\n",
		"bad code":             "HTTP/1.1 2x0 OK\r\n\r\n",
		"code out of range":    "HTTP/1.1 999 What\r\n\r\n",
		"no space after code":  "HTTP/1.1 200OK\r\n\r\n",
		"header without colon": "HTTP/1.1 200 OK\r\nbroken\r\n\r\n",
		"space before colon":   "HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\nx",
		"folding":              "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n",
		"bad length":           "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"conflicting lengths":  "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
		"gzip":                 "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"long line":            "HTTP/1.1 200 OK\r\nX: " + long + "\r\n\r\n",
		"short body":           "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
		"101":                  "HTTP/1.1 101 Switching Protocols\r\n\r\n",
		"body too large":       "HTTP/1.1 200 OK\r\nContent-Length: 1025\r\n\r\n",
		"chunk too large":      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n",
		"eof body too large":   "HTTP/1.1 200 OK\r\n\r\n" + strings.Repeat("x", 1025),
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
	for range maxHeaderBytes/4000 + 1 {
		fmt.Fprintf(&b, "X: %s\r\n", strings.Repeat("v", 4000))
	}
	b.WriteString("\r\n")
	_, err = parseResponse(b.Bytes(), 1024)
	require.ErrorContains(t, err, "header block")
}

// FuzzResponseParser: the parser never panics, never exceeds the body limit, and gives the same outcome however
// the input is split into feeds (the first byte picks the split points).
func FuzzResponseParser(f *testing.F) {
	f.Add(byte(7), []byte(amt200(generalSettingsResponse("1"), 0x220)))
	f.Add(byte(3), []byte(amt401))
	f.Add(byte(1), []byte(chunkedHead+chunkedVector(hexLens())))
	f.Add(byte(5), []byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\nTransfer-Encoding: chunked\n\n3;e\nabc\r\n0\nT: y\n\n"))
	f.Add(byte(2), []byte("HTTP/1.1 200 OK\r\n\r\nclose-delimited"))
	const limit = 4096
	f.Fuzz(func(t *testing.T, step byte, raw []byte) {
		whole, werr := parseResponse(raw, limit)
		if werr == nil && len(whole.Body) > limit {
			t.Fatalf("body %d bytes exceeds limit", len(whole.Body))
		}
		p := newResponseParser(limit)
		size := int(step%32) + 1
		var err error
		used := 0
		for off := 0; off < len(raw) && err == nil && !p.done(); off += size {
			var n int
			n, err = p.feed(raw[off:min(off+size, len(raw))])
			used += n
		}
		if err == nil && used < len(raw) {
			err = httpErr("trailing")
		}
		if err == nil {
			err = p.eof()
		}
		if (err == nil) != (werr == nil) {
			t.Fatalf("split feeding (step %d): %v; whole: %v", size, err, werr)
		}
		if err == nil && !bytes.Equal(p.resp.Body, whole.Body) {
			t.Fatalf("split feeding changed the body")
		}
	})
}
