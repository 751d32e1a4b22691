package wsman

import (
	"crypto/md5" //nolint:gosec // G501: HTTP Digest (RFC 2617), the only auth AMT speaks, is defined on MD5
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
)

// challenge is a parsed `WWW-Authenticate: Digest …` header (§8.3).
type challenge struct {
	Realm  string
	Nonce  string
	Opaque string
	Stale  string
	Qop    string // always "auth": AMT may offer "auth-int, auth", and auth is what RPS and MPS answer with
}

// parseChallenge picks the Digest challenge among the WWW-Authenticate values. It is tolerant of what AMT and
// its proxies emit: empty list items, trailing commas, spaces around '=', quoted or bare values (§7.3).
func parseChallenge(values []string) (challenge, error) {
	for _, v := range values {
		v = strings.TrimLeft(v, " \t")
		if len(v) < 7 || !strings.EqualFold(v[:6], "Digest") || (v[6] != ' ' && v[6] != '\t') {
			continue
		}
		params, err := parseAuthParams(v[7:])
		if err != nil {
			return challenge{}, err
		}
		if alg, ok := params["algorithm"]; ok && !strings.EqualFold(alg, "MD5") {
			return challenge{}, &ProtocolError{Layer: "digest", Msg: "unsupported digest algorithm " + strconv.Quote(alg)}
		}
		ch := challenge{
			Realm: params["realm"], Nonce: params["nonce"], Opaque: params["opaque"], Stale: params["stale"],
			Qop: "auth",
		}
		if ch.Realm == "" || ch.Nonce == "" {
			return challenge{}, &ProtocolError{Layer: "digest", Msg: "challenge without realm or nonce"}
		}
		return ch, nil
	}
	return challenge{}, &ProtocolError{Layer: "digest", Msg: "401 without a Digest challenge"}
}

func parseAuthParams(s string) (map[string]string, error) {
	params := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return params, nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, &ProtocolError{Layer: "digest", Msg: "malformed challenge parameter " + strconv.Quote(truncate(s))}
		}
		key := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			if i == len(s) {
				return nil, &ProtocolError{Layer: "digest", Msg: "unterminated quoted string in challenge"}
			}
			val, s = b.String(), s[i+1:]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			val, s = strings.TrimSpace(s[:end]), s[end:]
		}
		params[key] = val
	}
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s)) //nolint:gosec // G401: RFC 2617 Digest mandates MD5; not used for integrity here
	return hex.EncodeToString(sum[:])
}

// digestResponse computes the RFC 2617 response for POST /wsman with qop=auth (§8.3).
func digestResponse(user, password, realm, nonce, nc, cnonce string) string {
	ha1 := md5hex(user + ":" + realm + ":" + password)
	ha2 := md5hex("POST:/wsman")
	return md5hex(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" + ha2)
}

// authorization renders the Authorization header value in the RPS/MPS form (§7.4; qop and nc quoted), which AMT
// accepts; opaque is echoed when the challenge had one.
func (ch challenge) authorization(user, password string, nc uint32, cnonce string) string {
	ncs := hex8(nc)
	var b strings.Builder
	b.WriteString(`Digest username="`)
	b.WriteString(quoteEscape(user))
	b.WriteString(`",realm="`)
	b.WriteString(quoteEscape(ch.Realm))
	b.WriteString(`",nonce="`)
	b.WriteString(quoteEscape(ch.Nonce))
	b.WriteString(`",uri="/wsman",qop="auth",response="`)
	b.WriteString(digestResponse(user, password, ch.Realm, ch.Nonce, ncs, cnonce))
	b.WriteString(`",nc="`)
	b.WriteString(ncs)
	b.WriteString(`",cnonce="`)
	b.WriteString(cnonce)
	b.WriteByte('"')
	if ch.Opaque != "" {
		b.WriteString(`,opaque="`)
		b.WriteString(quoteEscape(ch.Opaque))
		b.WriteByte('"')
	}
	return b.String()
}

func hex8(n uint32) string {
	s := strconv.FormatUint(uint64(n), 16)
	return strings.Repeat("0", 8-len(s)) + s
}

func quoteEscape(s string) string {
	if !strings.ContainsAny(s, `"\`) {
		return s
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}

// randomCnonce returns 16 hex characters from crypto/rand.
func randomCnonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}
