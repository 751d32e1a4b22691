package wsman

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// ExchangeRaw over net.Pipe: the answer comes back as received, and a failure says whether the request was
// written.
func TestExchangeRaw(t *testing.T) {
	const req = "POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
	const lenResp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
	const chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
	const eofResp = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello"
	for _, tc := range []struct {
		name, answer string
		readReq      bool // the device reads the request before answering
		want         string
		written      Written // 0: success
	}{
		{"content length", lenResp, true, lenResp, 0},
		{"chunked", chunked, true, chunked, 0},
		{"close delimited", eofResp, true, eofResp, 0},
		{"no answer", "", true, "", PossiblyWritten},
		{"truncated", lenResp[:len(lenResp)-2], true, "", PossiblyWritten},
		{"garbage", "SSH-2.0\r\n\r\n", true, "", PossiblyWritten},
		{"closed before the request", "", false, "", NotWritten},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw, dev := net.Pipe()
			defer gw.Close()
			go func() {
				defer dev.Close()
				if !tc.readReq {
					return
				}
				buf := make([]byte, len(req))
				if _, err := io.ReadFull(dev, buf); err != nil {
					return
				}
				for i := 0; i < len(tc.answer); i += 7 { // split anywhere
					if _, err := dev.Write([]byte(tc.answer[i:min(i+7, len(tc.answer))])); err != nil {
						return
					}
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			raw, err := ExchangeRaw(ctx, gw, []byte(req), 1<<10)
			require.Equal(t, tc.written, WrittenOf(err), "%v", err)
			if tc.written == 0 {
				require.NoError(t, err)
				require.Equal(t, tc.want, string(raw))
			}
		})
	}
}

func TestExchangeRawBodyLimit(t *testing.T) {
	gw, dev := net.Pipe()
	defer gw.Close()
	go func() {
		defer dev.Close()
		_, _ = io.ReadFull(dev, make([]byte, 3))
		_, _ = io.WriteString(dev, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"+strings.Repeat("x", 100))
	}()
	_, err := ExchangeRaw(context.Background(), gw, []byte("GET"), 10)
	require.ErrorIs(t, err, ErrResponseTooLarge)
	require.Equal(t, PossiblyWritten, WrittenOf(err))
}
