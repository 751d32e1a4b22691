package replica

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// authKey is the gRPC metadata key of an exchange's authentication: "v1 <unix seconds> <hex nonce> <hex
// HMAC-SHA256>", the HMAC keyed by DM_REPLICA_SECRET over the version, the time, the nonce, the device GUID and the
// request bytes. The secret itself never crosses the network, a captured call cannot be altered, and replaying one
// within the time window is refused (the verifier remembers the MACs it accepted). The random nonce keeps two
// legitimate calls with the same bytes in the same second (two replicas forwarding the same first, unauthenticated
// WS-Man request) apart.
const authKey = "x-dm-replica-auth"

// authWindow is how far a call's time may be from the receiver's clock.
const authWindow = 30 * time.Second

// MinSecretLen is the shortest DM_REPLICA_SECRET accepted.
const MinSecretLen = 16

var errAuth = errors.New("replica: call not authenticated; all replicas must share one DM_REPLICA_SECRET and a clock within 30s")

const nonceLen = 16

func mac(secret []byte, at int64, nonce []byte, guid string, request []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("v1\n" + strconv.FormatInt(at, 10) + "\n" + hex.EncodeToString(nonce) + "\n" + guid + "\n"))
	h.Write(request)
	return h.Sum(nil)
}

func sign(secret []byte, now time.Time, guid string, request []byte) string {
	at := now.Unix()
	nonce := make([]byte, nonceLen)
	_, _ = rand.Read(nonce)
	return "v1 " + strconv.FormatInt(at, 10) + " " + hex.EncodeToString(nonce) + " " +
		hex.EncodeToString(mac(secret, at, nonce, guid, request))
}

// parseAuth splits an authentication value; it never looks at the secret.
func parseAuth(v string) (at int64, nonce, sum []byte, err error) {
	parts := strings.Split(v, " ")
	if len(parts) != 4 || parts[0] != "v1" {
		return 0, nil, nil, fmt.Errorf("%w: malformed %s", errAuth, authKey)
	}
	at, err = strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%w: malformed time in %s", errAuth, authKey)
	}
	nonce, err = hex.DecodeString(parts[2])
	if err != nil || len(nonce) != nonceLen {
		return 0, nil, nil, fmt.Errorf("%w: malformed nonce in %s", errAuth, authKey)
	}
	sum, err = hex.DecodeString(parts[3])
	if err != nil || len(sum) != sha256.Size {
		return 0, nil, nil, fmt.Errorf("%w: malformed MAC in %s", errAuth, authKey)
	}
	return at, nonce, sum, nil
}

// verifier checks authentication values and refuses a MAC seen before within the window.
type verifier struct {
	secret []byte
	now    func() time.Time

	mu   sync.Mutex
	seen map[[sha256.Size]byte]int64 // MAC -> its time
	last int64                       // unix second of the last prune
}

func newVerifier(secret []byte, now func() time.Time) *verifier {
	return &verifier{secret: secret, now: now, seen: make(map[[sha256.Size]byte]int64)}
}

func (v *verifier) verify(value, guid string, request []byte) error {
	at, nonce, sum, err := parseAuth(value)
	if err != nil {
		return err
	}
	now := v.now().Unix()
	if d := now - at; d > int64(authWindow/time.Second) || -d > int64(authWindow/time.Second) {
		return fmt.Errorf("%w: call time is %ds away from this replica's clock", errAuth, d)
	}
	if !hmac.Equal(sum, mac(v.secret, at, nonce, guid, request)) {
		return errAuth
	}
	var key [sha256.Size]byte
	copy(key[:], sum)
	v.mu.Lock()
	defer v.mu.Unlock()
	if now != v.last {
		for k, t := range v.seen {
			if now-t > 2*int64(authWindow/time.Second) {
				delete(v.seen, k)
			}
		}
		v.last = now
	}
	if _, dup := v.seen[key]; dup {
		return fmt.Errorf("%w: replayed call", errAuth)
	}
	v.seen[key] = at
	return nil
}
