package wsman

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestReadRawResponse(t *testing.T) {
	const lenResp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
	const chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
	const eofResp = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello"
	for _, tc := range []struct {
		name, in, want string
		started        bool
		err            bool
	}{
		{"content length", lenResp, lenResp, true, false},
		{"next response stays unread", lenResp + "HTTP/1.1 200", lenResp, true, false},
		{"chunked", chunked, chunked, true, false},
		{"close delimited", eofResp, eofResp, true, false},
		{"nothing", "", "", false, true},
		{"truncated", lenResp[:len(lenResp)-2], "", true, true},
		{"garbage", "SSH-2.0\r\n\r\n", "", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, started, err := ReadRawResponse(iotest.OneByteReader(bytes.NewReader([]byte(tc.in))), 1<<10)
			if started != tc.started {
				t.Errorf("started = %v, want %v", started, tc.started)
			}
			if tc.err != (err != nil) {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if err == nil && string(raw) != tc.want {
				t.Errorf("raw = %q, want %q", raw, tc.want)
			}
		})
	}
}

func TestReadRawResponseBodyLimit(t *testing.T) {
	in := "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + string(make([]byte, 100))
	if _, _, err := ReadRawResponse(bytes.NewReader([]byte(in)), 10); !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("err = %v, want ErrResponseTooLarge", err)
	}
}

func FuzzReadRawResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	f.Add([]byte("HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		raw, _, err := ReadRawResponse(bytes.NewReader(in), 1<<12)
		if err != nil {
			return
		}
		// What was read is one whole response: parsing it again gives the same answer.
		if _, err := parseResponse(raw, 1<<12); err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("re-parse of %q: %v", raw, err)
		}
	})
}
