package apfclient

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// AMT 22's crypto hardening refuses an RSA 2048 or P-256 server leaf and takes RSA 3072 or P-384.
func TestHardenedServerKey(t *testing.T) {
	rsaKey := func(bits int) crypto.Signer {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		require.NoError(t, err)
		return k
	}
	ecKey := func(c elliptic.Curve) crypto.Signer {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		require.NoError(t, err)
		return k
	}
	for name, tc := range map[string]struct {
		key  crypto.Signer
		want string // empty: accepted
	}{
		"RSA 2048": {rsaKey(2048), "has an RSA 2048 key"},
		"RSA 3072": {key: rsaKey(3072)},
		"P-256":    {ecKey(elliptic.P256()), "has an EC P-256 key"},
		"P-384":    {key: ecKey(elliptic.P384())},
	} {
		t.Run(name, func(t *testing.T) {
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cira.example.com"},
				NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, tc.key.Public(), tc.key)
			require.NoError(t, err)
			leaf, err := x509.ParseCertificate(der)
			require.NoError(t, err)
			if tc.want == "" {
				require.NoError(t, hardenedKey(leaf))
				return
			}
			require.ErrorContains(t, hardenedKey(leaf), tc.want)
		})
	}
}
