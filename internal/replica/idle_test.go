package replica

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestKeepAlive(t *testing.T) {
	req := "POST /wsman HTTP/1.1\r\nHost: x:16992\r\nContent-Length: 3\r\n\r\nabc"
	for _, c := range []struct {
		name, req, resp string
		keep            bool
	}{
		{"length-delimited answer", req, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true},
		{"chunked answer", req, "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", true},
		{"request says close", "POST /wsman HTTP/1.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false},
		{"answer says close (a 401)", req, "HTTP/1.1 401 Unauthorized\r\nconnection: Keep-Alive, Close\r\nContent-Length: 0\r\n\r\n", false},
		{"HTTP/1.0 answer", req, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false},
		{"answer read to EOF", req, "HTTP/1.1 200 OK\r\n\r\nuntil the end", false},
		{"no header end", req, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", false},
		{"garbage", "x", "y", false},
	} {
		require.Equal(t, c.keep, keepAlive([]byte(c.req), []byte(c.resp)), c.name)
	}
}

func FuzzKeepAlive(f *testing.F) {
	f.Add([]byte("POST / HTTP/1.1\r\n\r\n"), []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte(""), []byte("\r\n\r\n"))
	f.Fuzz(func(t *testing.T, req, resp []byte) {
		if keepAlive(req, resp) {
			require.Contains(t, string(resp), "\r\n\r\n")
		}
	})
}
