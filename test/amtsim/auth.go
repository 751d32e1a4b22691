package amtsim

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"strconv"

	"github.com/dmrm/dm-manager/test/amtsim/httpwire"
)

// nonceSlots is how many issued nonces stay valid at once; older ones turn stale.
const nonceSlots = 4

// nonceRec is an issued nonce with a 64-wide replay window over nc values, so that
// concurrent requests (MPS runs up to 3 per device) may arrive out of order but a
// (nonce, nc) pair is never accepted twice.
type nonceRec struct {
	value  string
	issued int64 // unix nanoseconds
	maxNC  uint32
	seen   uint64
}

type nonceRing struct {
	recs [nonceSlots]nonceRec
	next int
}

func (r *nonceRec) accept(nc uint32) bool {
	switch {
	case nc == 0:
		return false
	case nc > r.maxNC:
		if shift := nc - r.maxNC; shift >= 64 {
			r.seen = 0
		} else {
			r.seen <<= shift
		}
		r.seen |= 1
		r.maxNC = nc
		return true
	case r.maxNC-nc >= 64:
		return false
	default:
		bit := uint64(1) << (r.maxNC - nc)
		if r.seen&bit != 0 {
			return false
		}
		r.seen |= bit
		return true
	}
}

// issueNonce makes a nonce like AMT's: 32 base64 characters (§8.2 sample).
func (d *Device) issueNonce() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	v := base64.StdEncoding.EncodeToString(b[:])
	d.nonces.recs[d.nonces.next] = nonceRec{value: v, issued: d.cfg.Clock().UnixNano()}
	d.nonces.next = (d.nonces.next + 1) % nonceSlots
	return v
}

type authResult int

const (
	authOK authResult = iota
	authFailed
	authStale
)

// credential returns the HA1 of an account allowed in the current state. In
// pre-provisioning only the local system account exists, and only on the host (LMS)
// side; once provisioned only the admin account authenticates (rpc-go/RPS switch to
// admin after Setup, protocol-rps-activation §2.3 UPDATE_CREDENTIALS).
func (d *Device) credential(user string, local bool) (string, bool) {
	if d.mode == PreProvisioning {
		return d.lsaHA1, local && user == d.cfg.LSAUser
	}
	return d.adminHA1, user == d.adminUser
}

// authenticate checks an RFC 2617 Digest (MD5, qop=auth) Authorization header; caller
// holds d.mu. A correct response over an unknown or expired nonce is stale.
func (d *Device) authenticate(req *httpwire.Request, local bool) (string, authResult) {
	hdr, ok := req.Get("Authorization")
	if !ok {
		return "", authFailed
	}
	p, err := httpwire.ParseDigest(hdr)
	if err != nil {
		return "", authFailed
	}
	user, nonce, nc, cnonce := p["username"], p["nonce"], p["nc"], p["cnonce"]
	switch {
	case p["realm"] != d.realm, p["uri"] != req.URI, p["qop"] != "auth",
		nonce == "", cnonce == "", len(nc) != 8, len(p["response"]) != 32:
		return "", authFailed
	case p["algorithm"] != "" && p["algorithm"] != "MD5":
		return "", authFailed
	}
	count, err := strconv.ParseUint(nc, 16, 32)
	if err != nil {
		return "", authFailed
	}
	ha1, known := d.credential(user, local)
	want := httpwire.DigestResponse(ha1, nonce, nc, cnonce, "auth", req.Method, req.URI)
	if !known || subtle.ConstantTimeCompare([]byte(want), []byte(p["response"])) != 1 {
		return "", authFailed
	}
	now := d.cfg.Clock().UnixNano()
	for i := range d.nonces.recs {
		r := &d.nonces.recs[i]
		if r.value != nonce {
			continue
		}
		if now-r.issued > d.cfg.NonceTTL.Nanoseconds() {
			return "", authStale
		}
		if !r.accept(uint32(count)) {
			return "", authFailed
		}
		return user, authOK
	}
	return "", authStale
}

// challenge is the WWW-Authenticate value of a 401 with a fresh nonce (§8.2 format).
func (d *Device) challenge(stale bool) string {
	s := "false"
	if stale {
		s = "true"
	}
	return `Digest realm="` + d.realm + `", nonce="` + d.issueNonce() + `",stale="` + s + `",qop="auth"`
}
