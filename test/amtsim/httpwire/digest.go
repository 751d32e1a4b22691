package httpwire

import (
	"crypto/md5" //nolint:gosec // G501: HTTP Digest (RFC 2617), the only auth AMT speaks, is defined on MD5
	"encoding/hex"
	"errors"
	"strings"
)

// ErrMalformedAuth is returned for an Authorization header that is not a well-formed
// Digest credential list.
var ErrMalformedAuth = errors.New("malformed Digest authorization header")

// ParseDigest parses `Digest k=v, k="v", …` (RFC 2617 §3.2.2). Parameter names are
// lower-cased; a repeated parameter, an unterminated quote or a missing '=' is an error.
// Empty list elements (",,") are allowed, as RFC 7230 §7 allows them.
func ParseDigest(header string) (map[string]string, error) {
	scheme, rest, _ := strings.Cut(strings.TrimLeft(header, " "), " ")
	if !strings.EqualFold(scheme, "Digest") {
		return nil, ErrMalformedAuth
	}
	params := make(map[string]string, 9)
	s := rest
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			break
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, ErrMalformedAuth
		}
		name := strings.ToLower(strings.TrimRight(s[:eq], " \t"))
		if !isToken(name) {
			return nil, ErrMalformedAuth
		}
		s = strings.TrimLeft(s[eq+1:], " \t")
		var value string
		if strings.HasPrefix(s, `"`) {
			v, n, ok := unquote(s)
			if !ok {
				return nil, ErrMalformedAuth
			}
			value, s = v, s[n:]
		} else {
			end := strings.IndexAny(s, ", \t")
			if end < 0 {
				end = len(s)
			}
			value, s = s[:end], s[end:]
			if value == "" || !isToken(value) {
				return nil, ErrMalformedAuth
			}
		}
		if _, dup := params[name]; dup {
			return nil, ErrMalformedAuth
		}
		params[name] = value
		s = strings.TrimLeft(s, " \t")
		if s != "" && s[0] != ',' {
			return nil, ErrMalformedAuth
		}
	}
	return params, nil
}

// unquote reads a quoted-string at the start of s and returns its value and length.
func unquote(s string) (string, int, bool) {
	// Without a quoted-pair the value is a substring of s.
	if end := strings.IndexAny(s[1:], `"\\`); end >= 0 && s[1+end] == '"' {
		return s[1 : 1+end], end + 2, true
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), i + 1, true
		case '\\':
			if i+1 == len(s) {
				return "", 0, false
			}
			i++
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, false
}

// HA1 is MD5(user:realm:password) in lower-case hex (RFC 2617 §3.2.2.2). AMT stores
// the admin password in exactly this form (protocol-rps-activation §2.2).
func HA1(user, realm, password string) string {
	var buf [128]byte
	sum := md5Joined(buf[:0], user, realm, password)
	return hex.EncodeToString(sum[:])
}

// DigestResponse is the qop=auth request-digest for the given HA1.
func DigestResponse(ha1, nonce, nc, cnonce, qop, method, uri string) string {
	var buf [256]byte
	ha2 := md5Joined(buf[:0], method, uri)
	var ha2hex [2 * md5.Size]byte
	hex.Encode(ha2hex[:], ha2[:])
	sum := md5Joined(buf[:0], ha1, nonce, nc, cnonce, qop, string(ha2hex[:]))
	return hex.EncodeToString(sum[:])
}

// md5Joined is MD5 of the parts joined by ':', built in buf (RFC 2617's A1, A2 and
// request-digest), so that a request's three digests need no heap.
func md5Joined(buf []byte, parts ...string) [md5.Size]byte {
	for i, p := range parts {
		if i > 0 {
			buf = append(buf, ':')
		}
		buf = append(buf, p...)
	}
	return md5.Sum(buf) //nolint:gosec // G401: RFC 2617 Digest mandates MD5; not used for integrity here
}
