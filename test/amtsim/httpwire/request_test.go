package httpwire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// rpsRequest is the shape RPS sends through rpc-go (protocol-rps-activation §1.6).
const rpsRequest = "POST /wsman HTTP/1.1\r\nHost: 4c4c4544-004b-4210-8033-b6c04f504633:16992\r\n" +
	"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n<a/>x\r\n3\r\nyz!\r\n0\r\n\r\n"

// mpsRequest is MPS's exact header set (protocol-cira-wsman §8.1), with the UTF-8 vector.
const mpsRequest = "POST /wsman HTTP/1.1\r\nHost: 4c4c4544-004b-4210-8033-b6c04f504633:16992\r\n" +
	"Content-Length: 19\r\n\r\n<tag>FooÀbar</tag>"

func TestReadRequest(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		body    string
		close   bool
		chunked bool
		status  int // 0: accepted
	}{
		{name: "rps chunked with close", in: rpsRequest, body: "<a/>xyz!", close: true, chunked: true},
		{name: "mps content-length utf-8", in: mpsRequest, body: "<tag>FooÀbar</tag>"},
		{name: "chunk extension and trailer", in: "POST /wsman HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\nab\r\n0\r\nX-T: 1\r\n\r\n", body: "ab", chunked: true},
		{name: "no host", in: "POST /wsman HTTP/1.1\r\nContent-Length: 0\r\n\r\n", status: 400},
		{name: "two hosts", in: "POST /wsman HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: 0\r\n\r\n", status: 400},
		{name: "bare LF", in: "POST /wsman HTTP/1.1\nHost: h\nContent-Length: 0\n\n", status: 400},
		{name: "http/1.0", in: "POST /wsman HTTP/1.0\r\nHost: h\r\nContent-Length: 0\r\n\r\n", status: 505},
		{name: "no length", in: "POST /wsman HTTP/1.1\r\nHost: h\r\n\r\n", status: 411},
		{name: "te and cl", in: "POST /wsman HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400},
		{name: "gzip te", in: "POST /wsman HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", status: 501},
		{name: "bad cl", in: "POST /wsman HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", status: 400},
		{name: "conflicting cl", in: "POST /wsman HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", status: 400},
		{name: "huge cl", in: "POST /wsman HTTP/1.1\r\nHost: h\r\nContent-Length: 999999999\r\n\r\n", status: 413},
		{name: "chunk longer than size", in: "POST /wsman HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n", status: 400},
		{name: "non-hex chunk size", in: "POST /wsman HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", status: 400},
		{name: "folded header", in: "POST /wsman HTTP/1.1\r\nHost: h\r\n x\r\nContent-Length: 0\r\n\r\n", status: 400},
		{name: "space before colon", in: "POST /wsman HTTP/1.1\r\nHost : h\r\nContent-Length: 0\r\n\r\n", status: 400},
		{name: "extra spaces in request line", in: "POST  /wsman HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := ReadRequest(bufio.NewReader(strings.NewReader(tt.in)))
			if tt.status != 0 {
				var he *Error
				require.ErrorAs(t, err, &he)
				require.Equal(t, tt.status, he.Status)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.body, string(req.Body))
			require.Equal(t, tt.close, req.Close)
			require.Equal(t, tt.chunked, req.Chunked)
		})
	}
}

func TestReadRequestEOF(t *testing.T) {
	_, err := ReadRequest(bufio.NewReader(strings.NewReader("")))
	require.ErrorIs(t, err, io.EOF)
	_, err = ReadRequest(bufio.NewReader(strings.NewReader(mpsRequest[:len(mpsRequest)-3])))
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

func TestReadRequestPipelined(t *testing.T) {
	br := bufio.NewReader(strings.NewReader(mpsRequest + rpsRequest))
	a, err := ReadRequest(br)
	require.NoError(t, err)
	b, err := ReadRequest(br)
	require.NoError(t, err)
	require.False(t, a.Close)
	require.True(t, b.Close)
}

var chunkLine = regexp.MustCompile(`^[0-9A-F]{4}$`)

func TestAppendChunkedReassembles(t *testing.T) {
	body := []byte(strings.Repeat(`<g:AMT_GeneralSettings attr="v">x</g:AMT_GeneralSettings>`, 60))
	for seed := range uint64(20) {
		out := AppendChunked(nil, 200, []Header{{Name: "Content-Type", Value: "application/soap+xml; charset=UTF-8"}},
			body, rand.New(rand.NewPCG(seed, 1)))
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil)
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, body, got)
		require.Equal(t, []string{"chunked"}, resp.TransferEncoding)
		// AMT writes chunk sizes as four upper-case hex digits (§8.2).
		raw := out[bytes.Index(out, []byte("\r\n\r\n"))+4:]
		for len(raw) > 5 {
			line, rest, _ := bytes.Cut(raw, []byte("\r\n"))
			require.Regexp(t, chunkLine, string(line))
			var n int
			for _, c := range line {
				n = n*16 + strings.IndexByte("0123456789ABCDEF", c)
			}
			raw = rest[n+2:]
		}
		require.Equal(t, "0\r\n\r\n", string(raw))
	}
}

// TestAppendChunkedSplitPinned pins the chunk sizes one seed gives: a device's splits
// must not change from build to build, so that a recorded run can be replayed.
func TestAppendChunkedSplitPinned(t *testing.T) {
	out := AppendChunked(nil, 200, nil, bytes.Repeat([]byte("x"), 3000), rand.New(rand.NewPCG(7, 1)))
	require.True(t, bytes.HasPrefix(out, []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")))
	raw := out[bytes.Index(out, []byte("\r\n\r\n"))+4:]
	var sizes []string
	for {
		line, rest, _ := bytes.Cut(raw, []byte("\r\n"))
		sizes = append(sizes, string(line))
		n, err := strconv.ParseUint(string(line), 16, 32)
		require.NoError(t, err)
		if n == 0 {
			require.Equal(t, "\r\n", string(rest))
			break
		}
		raw = rest[n+2:]
	}
	require.Equal(t, []string{"01DB", "0269", "0020", "00D5", "0172", "00BA", "00B1", "015C", "0076", "002F",
		"004B", "0096", "006C", "0049", "0001", "0007", "0003", "0"}, sizes)
}

func TestParseDigest(t *testing.T) {
	// Challenge forms from protocol-rps-activation §7.3 parse without error.
	for _, h := range []string{
		`Digest realm="Digest:56ABC7BE224EF620C69EB88F01071DC8", nonce="fVNueyEAAAAAAAAAcO8WqJ8s+WdyFUIY",stale="false",qop="auth"`,
		`Digest realm="Digest:56ABC7BE224EF620C69EB88F01071DC8", nonce="fVNueyEAAAAAAAAAcO8WqJ8s+WdyFUIY",stale="false",qop="auth-int, auth",`,
		`Digest realm="Digest:56ABC7BE224EF620C69EB88F01071DC8", nonce="fVNueyEAAAAAAAAAcO8WqJ8s+WdyFUIY",stale="false",,qop="auth",`,
	} {
		p, err := ParseDigest(h)
		require.NoError(t, err, h)
		require.Equal(t, "Digest:56ABC7BE224EF620C69EB88F01071DC8", p["realm"])
		require.Equal(t, "fVNueyEAAAAAAAAAcO8WqJ8s+WdyFUIY", p["nonce"])
	}
	p, err := ParseDigest(`Digest username="$$OsAdmin",realm="Digest:A4070000000000000000000000000000",nonce="wlbEK1EtAAAAAAAAWW5aUHFp+mQQ1j63",uri="/wsman",qop="auth",response="620915f00f3bb47aab17bf587698d5ea",nc="00000001",cnonce="abc123"`)
	require.NoError(t, err)
	require.Equal(t, "$$OsAdmin", p["username"])
	require.Equal(t, "00000001", p["nc"])
	for _, bad := range []string{`Basic abc`, `Digest realm`, `Digest realm="x`, `Digest a=1, a=2`, `Digest a="1" b="2"`} {
		_, err := ParseDigest(bad)
		require.True(t, errors.Is(err, ErrMalformedAuth), bad)
	}
}

func TestDigestVectors(t *testing.T) {
	// protocol-cira-wsman §8.3 constructed vector.
	ha1 := HA1("admin", "Digest:56ABC7BE224EF620C69EB88F01071DC8", "P@ssw0rd")
	require.Equal(t, "cf09062f1b7467e742c5a269a42f98b8", ha1)
	require.Equal(t, "89e54a7f67d92228fcd3b500776b0957",
		DigestResponse(ha1, "fVNueyEAAAAAAAAAcO8WqJ8s+WdyFUIY", "00000001", "abc123", "auth", "POST", "/wsman"))
	// protocol-rps-activation §7.4 (LSA account).
	ha1 = HA1("$$OsAdmin", "Digest:A4070000000000000000000000000000", "KQGnH+N5qJ8YLqjEFJMnGSgcnFLMv0Tk")
	require.Equal(t, "c442e1096e1a3dad656d983978db6dfe", ha1)
	require.Equal(t, "620915f00f3bb47aab17bf587698d5ea",
		DigestResponse(ha1, "wlbEK1EtAAAAAAAAWW5aUHFp+mQQ1j63", "00000001", "abc123", "auth", "POST", "/wsman"))
}

func FuzzReadRequest(f *testing.F) {
	f.Add([]byte(rpsRequest))
	f.Add([]byte(mpsRequest))
	f.Add([]byte(mpsRequest + rpsRequest))
	f.Add([]byte("POST /wsman HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFF\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		for range 4 {
			req, err := ReadRequest(br)
			if err != nil {
				return
			}
			if len(req.Body) > MaxBodyBytes {
				t.Fatalf("body of %d bytes exceeds the limit", len(req.Body))
			}
			if _, ok := req.Get("Host"); !ok {
				t.Fatal("accepted a request without Host")
			}
		}
	})
}

func FuzzParseDigest(f *testing.F) {
	f.Add(`Digest username="admin",realm="Digest:56ABC7BE224EF620C69EB88F01071DC8",nonce="fVNueyEAAAAAAAAAcO8WqJ8s+WdyFUIY",uri="/wsman",qop="auth",response="89e54a7f67d92228fcd3b500776b0957",nc="00000001",cnonce="abc123"`)
	f.Add(`Digest username="a\"b", nc=00000001`)
	f.Fuzz(func(t *testing.T, h string) {
		p, err := ParseDigest(h)
		if err == nil && p == nil {
			t.Fatal("nil map without error")
		}
	})
}
