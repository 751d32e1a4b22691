package amt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// protocol-rps-activation §7.5.
func TestAdminPasswordVectors(t *testing.T) {
	const realm = "Digest:A3829B3827DE4D33D4449B366831FD01"
	require.Equal(t, "9b1c5fcea64021977b23a5751913d07a", AdminPasswordHash(realm, "Intel123!"))
	require.Equal(t, "mxxfzqZAIZd7I6V1GRPQeg==", AdminDigestPassword(realm, "Intel123!"))

	require.True(t, ValidDigestRealm("Digest:F3EB554784E729164447A89F60B641C5"))
	for _, bad := range []string{"F3EB554784E729164447A89F60B641C5", "Digest:ABC", "Digest:F3EB554784E729164447A89F60B641CZ", ""} {
		require.False(t, ValidDigestRealm(bad), bad)
	}
}

func TestRandomPassword(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		p, err := RandomPassword()
		require.NoError(t, err)
		require.Len(t, p, 16)
		for _, r := range p {
			require.Contains(t, passwordAlphabet, string(r))
		}
		require.True(t, strings.ContainsAny(p, passwordSpecials), p)
		require.True(t, strings.ContainsAny(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"), p)
		require.True(t, strings.ContainsAny(p, "abcdefghijklmnopqrstuvwxyz"), p)
		require.True(t, strings.ContainsAny(p, "0123456789"), p)
		require.False(t, seen[p])
		seen[p] = true
	}
}

// §7.7 with our own key (the RPS test PFX is not ours to copy): the nonces decode as documented, the signature
// is PKCS#1 v1.5 SHA-256 over fwNonce‖mcNonce and deterministic.
func TestSignNonces(t *testing.T) {
	fw, err := base64.StdEncoding.DecodeString("SkqopmngrtkhdvcteznRbEdgqpc=")
	require.NoError(t, err)
	require.Equal(t, "4a4aa8a669e0aed92176f72d7b39d16c4760aa97", hex.EncodeToString(fw))
	mc, err := base64.StdEncoding.DecodeString("AQIDBAUGBwgJCgsMDQ4PEBESExQ=")
	require.NoError(t, err)
	require.Len(t, mc, McNonceSize)

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	sig, err := SignNonces(key, fw, mc)
	require.NoError(t, err)
	digest := sha256.Sum256(append(append([]byte{}, fw...), mc...))
	require.NoError(t, rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], sig))
	again, err := SignNonces(key, fw, mc)
	require.NoError(t, err)
	require.Equal(t, sig, again)
	require.Len(t, sig, 256)

	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	_, err = SignNonces(ec, fw, mc)
	require.ErrorContains(t, err, "must be RSA")

	n1, err := NewMcNonce()
	require.NoError(t, err)
	n2, err := NewMcNonce()
	require.NoError(t, err)
	require.Len(t, n1, McNonceSize)
	require.NotEqual(t, n1, n2)
}

func TestPeriodicInterval(t *testing.T) {
	require.Equal(t, "AAAAAAAAABk=", base64.StdEncoding.EncodeToString(PeriodicInterval(25)))
}
