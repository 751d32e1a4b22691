package httpwire

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// mpsGet is a digest-authenticated Get as dmtclient frames it (§8.1), body included.
var mpsGet = func() string {
	body := strings.Repeat("x", 1200)
	return "POST /wsman HTTP/1.1\r\n" +
		`Authorization: Digest username="admin",realm="Digest:56ABC7BE224EF620C69EB88F01071DC8",nonce="fVNueyEAAAAAAAAAcO8WqJ8s+WdyFUIY",uri="/wsman",qop="auth",response="89e54a7f67d92228fcd3b500776b0957",nc=00000001,cnonce="abc123"` + "\r\n" +
		"Host: 4c4c4544-004b-4210-8033-b6c04f504633:16992\r\nContent-Type: application/soap+xml;charset=UTF-8\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}()

func BenchmarkReadRequest(b *testing.B) {
	r := strings.NewReader(mpsGet)
	br := bufio.NewReaderSize(r, 4096)
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(mpsGet)
		br.Reset(r)
		if _, err := ReadRequest(br); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseDigest(b *testing.B) {
	req, err := ReadRequest(bufio.NewReader(strings.NewReader(mpsGet)))
	if err != nil {
		b.Fatal(err)
	}
	h, _ := req.Get("Authorization")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseDigest(h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDigestResponse(b *testing.B) {
	ha1 := HA1("admin", "Digest:56ABC7BE224EF620C69EB88F01071DC8", "P@ssw0rd")
	b.ReportAllocs()
	for b.Loop() {
		DigestResponse(ha1, "fVNueyEAAAAAAAAAcO8WqJ8s+WdyFUIY", "00000001", "abc123", "auth", "POST", "/wsman")
	}
}

// BenchmarkAppendChunked frames a body the size of an AMT_GeneralSettings reply.
func BenchmarkAppendChunked(b *testing.B) {
	body := bytes.Repeat([]byte("<g:HostName>host1</g:HostName>"), 80)
	hdr := []Header{
		{Name: "Date", Value: "Mon, 07 Dec 2026 06:29:40 GMT"},
		{Name: "Server", Value: "Intel(R) Active Management Technology 16.1.25.2049"},
		{Name: "X-Frame-Options", Value: "DENY"},
		{Name: "Content-Type", Value: "application/soap+xml; charset=UTF-8"},
	}
	rng := rand.New(rand.NewPCG(1, 1))
	b.ReportAllocs()
	for b.Loop() {
		AppendChunked(nil, 200, hdr, body, rng)
	}
}
