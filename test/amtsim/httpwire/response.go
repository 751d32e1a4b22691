package httpwire

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
)

// maxChunk bounds one chunk; AMT's observed chunks are 0x007C..0x02FA bytes (§8.2).
const maxChunk = 0x300

// AppendChunked appends a response whose body is sent with Transfer-Encoding: chunked,
// split at points drawn from rng so that chunk boundaries fall anywhere, even inside a
// tag or attribute value, as AMT does (protocol-cira-wsman §8.2). Chunk sizes are four
// upper-case hex digits; the body ends with the "0\r\n\r\n" terminator.
func AppendChunked(dst []byte, status int, headers []Header, body []byte, rng *rand.Rand) []byte {
	// The split is drawn before writing so that dst grows once; rng sees the same draws
	// in the same order either way.
	var sizeBuf [32]int
	sizes := sizeBuf[:0]
	for left := len(body); left > 0; {
		n := 1 + rng.IntN(min(left, maxChunk))
		sizes = append(sizes, n)
		left -= n
	}
	const chunkFrame = len("0000\r\n\r\n")
	dst = slices.Grow(dst, headLen(status, headers)+len(chunkedHeader)+len(sizes)*chunkFrame+len(body)+len(lastChunk))
	dst = appendHead(dst, status, headers)
	dst = append(dst, chunkedHeader...)
	for _, n := range sizes {
		dst = appendHex4(dst, n)
		dst = append(dst, "\r\n"...)
		dst = append(dst, body[:n]...)
		dst = append(dst, "\r\n"...)
		body = body[n:]
	}
	return append(dst, lastChunk...)
}

const (
	chunkedHeader = "Transfer-Encoding: chunked\r\n\r\n"
	lastChunk     = "0\r\n\r\n"
)

// appendHex4 appends n as "%04X" does: upper-case hex, at least four digits.
func appendHex4(dst []byte, n int) []byte {
	const digits = "0123456789ABCDEF"
	var buf [16]byte
	i := len(buf)
	for v := uint(n); v > 0 || i > len(buf)-4; v >>= 4 {
		i--
		buf[i] = digits[v&0xf]
	}
	return append(dst, buf[i:]...)
}

// AppendFixed appends a response framed by Content-Length (AMT's 401 and HTML errors).
func AppendFixed(dst []byte, status int, headers []Header, body []byte) []byte {
	const lengthHeader = len("Content-Length: 0000000000\r\n\r\n")
	dst = slices.Grow(dst, headLen(status, headers)+lengthHeader+len(body))
	dst = appendHead(dst, status, headers)
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, body...)
}

// headLen is the length appendHead writes for a three-digit status.
func headLen(status int, headers []Header) int {
	n := len("HTTP/1.1 200 \r\n") + len(http.StatusText(status))
	for _, h := range headers {
		n += len(h.Name) + len(": \r\n") + len(h.Value)
	}
	return n
}

func appendHead(dst []byte, status int, headers []Header) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, http.StatusText(status)...)
	dst = append(dst, "\r\n"...)
	for _, h := range headers {
		dst = append(dst, h.Name...)
		dst = append(dst, ": "...)
		dst = append(dst, h.Value...)
		dst = append(dst, "\r\n"...)
	}
	return dst
}
