package amtsim

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"testing"

	"github.com/dmrm/dm-manager/test/amtsim/soap"
)

// BenchmarkServeGetCIRA serves digest-authenticated Gets of AMT_GeneralSettings on one
// kept-alive network-side connection, as the gateway relays them through a CIRA channel
// with the dmtclient framing (Authorization, Host, Content-Type, Content-Length).
func BenchmarkServeGetCIRA(b *testing.B) {
	d, err := New(Config{DNSSuffix: testSuffix, Hostname: "host1", Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	d.lock()
	d.mode = ClientControl
	d.adminHA1 = md5hex("admin:" + d.realm + ":" + testPassword)
	realm, nonce := d.realm, d.issueNonce()
	d.unlock()
	client, server := net.Pipe()
	defer client.Close()
	go d.ServeConn(server)

	env := envelope(soap.ActionGet, gsURI, "1", "", "")
	// The request digest changes with nc only; the rest is prepared once so that the
	// client's share of the work stays small.
	digestPrefix := []byte(md5hex("admin:"+realm+":"+testPassword) + ":" + nonce + ":")
	digestSuffix := ":abc123:auth:" + md5hex("POST:/wsman")
	var req, scratch []byte
	var nc [8]byte
	br := bufio.NewReaderSize(client, 4096)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		hex8(nc[:], uint32(i+1)) //nolint:gosec // G115: b.N < 2^32
		scratch = append(append(append(scratch[:0], digestPrefix...), nc[:]...), digestSuffix...)
		sum := md5.Sum(scratch)
		req = append(req[:0], `POST /wsman HTTP/1.1`+"\r\n"+`Authorization: Digest username="admin",realm="`...)
		req = append(req, realm...)
		req = append(req, `",nonce="`...)
		req = append(req, nonce...)
		req = append(req, `",uri="/wsman",qop="auth",response="`...)
		req = hex.AppendEncode(req, sum[:])
		req = append(req, `",nc=`...)
		req = append(req, nc[:]...)
		req = append(req, ",cnonce=\"abc123\"\r\nHost: 4c4c4544-004b-4210-8033-b6c04f504633:16992\r\n"+
			"Content-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: "...)
		req = strconv.AppendInt(req, int64(len(env)), 10)
		req = append(req, "\r\n\r\n"...)
		req = append(req, env...)
		if _, err := client.Write(req); err != nil {
			b.Fatal(err)
		}
		if err := readChunkedOK(br); err != nil {
			b.Fatal(err)
		}
	}
}

func hex8(dst []byte, v uint32) {
	const digits = "0123456789abcdef"
	for i := 7; i >= 0; i-- {
		dst[i] = digits[v&0xf]
		v >>= 4
	}
}

// readChunkedOK reads one chunked 200 response without allocating.
func readChunkedOK(br *bufio.Reader) error {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("unexpected status line %q", line)
	}
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) == 2 {
			break
		}
	}
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		n := 0
		for _, c := range bytes.TrimSpace(line) {
			v := bytes.IndexByte([]byte("0123456789ABCDEF"), c)
			if v < 0 {
				return fmt.Errorf("malformed chunk size %q", line)
			}
			n = n*16 + v
		}
		if n == 0 {
			_, err = br.Discard(2)
			return err
		}
		if _, err := br.Discard(n + 2); err != nil {
			return err
		}
	}
}
