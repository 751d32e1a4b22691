package amt

import (
	"crypto"
	"crypto/md5" //nolint:gosec // G501: AMT defines its admin password hash on MD5 (protocol-rps-activation §2.2)
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// AdminPasswordHash is Setup/AdminSetup's NetworkAdminPassword: lowercase hex MD5("admin:" realm ":" password)
// (protocol-rps-activation §2.2).
func AdminPasswordHash(realm, password string) string {
	sum := adminHA1(realm, password)
	return hex.EncodeToString(sum[:])
}

// AdminDigestPassword is SetAdminAclEntryEx's DigestPassword: the same MD5, raw bytes, base64 (§2.2).
func AdminDigestPassword(realm, password string) string {
	sum := adminHA1(realm, password)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func adminHA1(realm, password string) [16]byte {
	return md5.Sum([]byte("admin:" + realm + ":" + password)) //nolint:gosec // G401: AMT mandates MD5 here (§2.2)
}

// ValidDigestRealm reports whether realm is "Digest:" followed by exactly 32 hex characters (§2.2).
func ValidDigestRealm(realm string) bool {
	rest, ok := strings.CutPrefix(realm, "Digest:")
	if !ok || len(rest) != 32 {
		return false
	}
	_, err := hex.DecodeString(rest)
	return err == nil
}

// Random password rule (§2.2): 16 characters from this alphabet, redrawn until it has a special character, an
// upper-case letter, a digit and a lower-case letter.
const (
	passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!@#$%^*()"
	passwordSpecials = "$@!%*#?"
	passwordLength   = 16
	passwordTries    = 10000
)

// RandomPassword draws an AMT (or MEBx, or CIRA) password by the RPS rule, from crypto/rand.
func RandomPassword() (string, error) {
	alphabet := big.NewInt(int64(len(passwordAlphabet)))
	buf := make([]byte, passwordLength)
	for range passwordTries {
		for i := range buf {
			n, err := rand.Int(rand.Reader, alphabet)
			if err != nil {
				return "", fmt.Errorf("random password: %w", err)
			}
			buf[i] = passwordAlphabet[n.Int64()]
		}
		if s := string(buf); strings.ContainsAny(s, passwordSpecials) &&
			strings.ContainsAny(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") &&
			strings.ContainsAny(s, "0123456789") && strings.ContainsAny(s, "abcdefghijklmnopqrstuvwxyz") {
			return s, nil
		}
	}
	return "", errors.New("random password: no candidate met the rule")
}

// McNonceSize is the length of the console nonce of AdminSetup/UpgradeClientToAdmin, equal to AMT's
// ConfigurationNonce.
const McNonceSize = 20

// NewMcNonce draws a console nonce.
func NewMcNonce() ([]byte, error) {
	b := make([]byte, McNonceSize)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("console nonce: %w", err)
	}
	return b, nil
}

// SignNonces signs fwNonce‖mcNonce with the provisioning certificate's RSA key: PKCS#1 v1.5 over SHA-256, i.e.
// SigningAlgorithm 2 (protocol-rps-activation §2.4 step 7, vector §7.7).
func SignNonces(key crypto.Signer, fwNonce, mcNonce []byte) ([]byte, error) {
	if _, ok := key.Public().(*rsa.PublicKey); !ok {
		return nil, errors.New("sign nonces: the provisioning key must be RSA")
	}
	digest := sha256.Sum256(append(append([]byte(nil), fwNonce...), mcNonce...))
	sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign nonces: %w", err)
	}
	return sig, nil
}
