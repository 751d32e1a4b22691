package replica

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// authKey is the gRPC metadata key of an exchange's authentication: "v1 <unix seconds> <hex HMAC-SHA256>", the
// HMAC keyed by DM_REPLICA_SECRET over the version, the time, the device GUID and the request bytes. The secret
// itself never crosses the network, a captured call cannot be altered, and replaying one is refused (replayCache).
const authKey = "x-dm-replica-auth"

// authWindow is how far a call's time may be from the receiver's clock.
const authWindow = 30 * time.Second

// MinSecretLen is the shortest DM_REPLICA_SECRET accepted.
const MinSecretLen = 16

var errAuth = errors.New("replica: call not authenticated; all replicas must share one DM_REPLICA_SECRET and a clock within 30s")

func mac(secret []byte, at int64, guid string, request []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("v1\n" + strconv.FormatInt(at, 10) + "\n" + guid + "\n"))
	h.Write(request)
	return h.Sum(nil)
}

func sign(secret []byte, now time.Time, guid string, request []byte) string {
	at := now.Unix()
	return "v1 " + strconv.FormatInt(at, 10) + " " + hex.EncodeToString(mac(secret, at, guid, request))
}

// parseAuth splits an authentication value; it never looks at the secret.
func parseAuth(v string) (at int64, sum []byte, err error) {
	parts := strings.Split(v, " ")
	if len(parts) != 3 || parts[0] != "v1" {
		return 0, nil, fmt.Errorf("%w: malformed %s", errAuth, authKey)
	}
	at, err = strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: malformed time in %s", errAuth, authKey)
	}
	sum, err = hex.DecodeString(parts[2])
	if err != nil || len(sum) != sha256.Size {
		return 0, nil, fmt.Errorf("%w: malformed MAC in %s", errAuth, authKey)
	}
	return at, sum, nil
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
	at, sum, err := parseAuth(value)
	if err != nil {
		return err
	}
	now := v.now().Unix()
	if d := now - at; d > int64(authWindow/time.Second) || -d > int64(authWindow/time.Second) {
		return fmt.Errorf("%w: call time is %ds away from this replica's clock", errAuth, d)
	}
	if !hmac.Equal(sum, mac(v.secret, at, guid, request)) {
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
