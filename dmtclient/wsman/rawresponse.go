package wsman

import (
	"errors"
	"io"
)

// ReadRawResponse reads exactly one HTTP response from r and returns its bytes as received, for a relay that
// carries AMT's answer on to the client that sent the request (one replica forwarding for another). It stops at
// the end of the response, so r can stay open for the next exchange; a close-delimited body ends at io.EOF. The
// body is bounded by maxBody (DefaultMaxResponseBytes when <= 0). started reports whether any byte arrived: a
// request answered by nothing at all may still have been received by AMT, so the caller must not read "not sent"
// into it either way.
func ReadRawResponse(r io.Reader, maxBody int) (raw []byte, started bool, err error) {
	if maxBody <= 0 {
		maxBody = DefaultMaxResponseBytes
	}
	p := newResponseParser(maxBody)
	buf := make([]byte, 16<<10)
	for !p.done() {
		n, rerr := r.Read(buf)
		if n > 0 {
			started = true
			used, err := p.feed(buf[:n])
			raw = append(raw, buf[:used]...)
			if err != nil {
				return nil, true, err
			}
			if used < n {
				return nil, true, httpErr("%d unexpected bytes after the response", n-used)
			}
		}
		if rerr == nil || p.done() {
			continue
		}
		if errors.Is(rerr, io.EOF) || isClosed(rerr) {
			if err := p.eof(); err != nil {
				return nil, started, err
			}
			break
		}
		return nil, started, rerr
	}
	return raw, started, nil
}
