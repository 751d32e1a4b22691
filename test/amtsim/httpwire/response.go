package httpwire

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
)

// maxChunk bounds one chunk; AMT's observed chunks are 0x007C..0x02FA bytes (§8.2).
const maxChunk = 0x300

// AppendChunked appends a response whose body is sent with Transfer-Encoding: chunked,
// split at points drawn from rng so that chunk boundaries fall anywhere, even inside a
// tag or attribute value, as AMT does (protocol-cira-wsman §8.2). Chunk sizes are four
// upper-case hex digits; the body ends with the "0\r\n\r\n" terminator.
func AppendChunked(dst []byte, status int, headers []Header, body []byte, rng *rand.Rand) []byte {
	dst = appendHead(dst, status, headers)
	dst = append(dst, "Transfer-Encoding: chunked\r\n\r\n"...)
	for len(body) > 0 {
		n := 1 + rng.IntN(min(len(body), maxChunk))
		dst = fmt.Appendf(dst, "%04X\r\n", n)
		dst = append(dst, body[:n]...)
		dst = append(dst, "\r\n"...)
		body = body[n:]
	}
	return append(dst, "0\r\n\r\n"...)
}

// AppendFixed appends a response framed by Content-Length (AMT's 401 and HTML errors).
func AppendFixed(dst []byte, status int, headers []Header, body []byte) []byte {
	dst = appendHead(dst, status, headers)
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, body...)
}

func appendHead(dst []byte, status int, headers []Header) []byte {
	dst = fmt.Appendf(dst, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	for _, h := range headers {
		dst = append(dst, h.Name...)
		dst = append(dst, ": "...)
		dst = append(dst, h.Value...)
		dst = append(dst, "\r\n"...)
	}
	return dst
}
