package domaincert

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
)

// A PFX stating a huge iteration count in any place visible without the password is refused before any key is
// derived. The counts are patched into a real PFX, since encoding with them would itself take hours.
func TestIterationLimit(t *testing.T) {
	p := certtest.New(t)
	certs := []*x509.Certificate{p.Leaf, p.Intermediate, p.Root}
	const huge = 1 << 40
	for name, tc := range map[string]struct {
		enc   *pkcs12.Encoder
		patch func(t *testing.T, pfx *p12PFX)
	}{
		"MAC":                  {pkcs12.Modern, func(_ *testing.T, pfx *p12PFX) { pfx.MacData.Iterations = huge }},
		"PBMAC1":               {pkcs12.Modern2026, func(t *testing.T, pfx *p12PFX) { setPBKDF2(t, &pfx.MacData.Mac.Algorithm, huge) }},
		"PBES2 content":        {pkcs12.Modern, func(t *testing.T, pfx *p12PFX) { editSafe(t, pfx, oidEncryptedData, huge) }},
		"PKCS#12 PBE content":  {pkcs12.LegacyDES, func(t *testing.T, pfx *p12PFX) { editSafe(t, pfx, oidEncryptedData, huge) }},
		"PBES2 key bag":        {pkcs12.Modern, func(t *testing.T, pfx *p12PFX) { editSafe(t, pfx, oidData, huge) }},
		"PKCS#12 PBE key bag":  {pkcs12.LegacyRC2, func(t *testing.T, pfx *p12PFX) { editSafe(t, pfx, oidData, huge) }},
		"just above the limit": {pkcs12.Modern, func(_ *testing.T, pfx *p12PFX) { pfx.MacData.Iterations = MaxKDFIterations + 1 }},
	} {
		t.Run(name, func(t *testing.T) {
			raw := certtest.Encode(t, tc.enc, p.LeafKey, certs, certtest.Password)
			var pfx p12PFX
			require.NoError(t, unmarshalAll(raw, &pfx))
			tc.patch(t, &pfx)
			patched, err := asn1.Marshal(pfx)
			require.NoError(t, err)
			start := time.Now()
			_, err = Validate(patched, certtest.Password, certtest.Suffix, time.Now())
			require.ErrorIs(t, err, ErrTooManyIterations)
			require.Less(t, time.Since(start), time.Second)
		})
	}
	// The patching keeps the file well-formed: below the limit go-pkcs12 reads it up to the MAC, which no longer
	// matches the edited content.
	raw := certtest.Encode(t, pkcs12.Modern, p.LeafKey, certs, certtest.Password)
	var pfx p12PFX
	require.NoError(t, unmarshalAll(raw, &pfx))
	editSafe(t, &pfx, oidEncryptedData, 4096)
	_, err := Validate(marshal(t, pfx), certtest.Password, certtest.Suffix, time.Now())
	require.ErrorIs(t, err, ErrWrongPassword)
}

// editSafe raises the iteration count of the algorithm in the first authenticated-safe entry of type kind: the
// content encryption of encryptedData, or the shrouded key bags of data.
func editSafe(t *testing.T, pfx *p12PFX, kind asn1.ObjectIdentifier, n int) {
	var content asn1.RawValue
	var safe []p12ContentInfo
	require.NoError(t, unmarshalAll(pfx.AuthSafe.Content.Bytes, &content)) // the OCTET STRING holding the safe
	require.NoError(t, unmarshalAll(content.Bytes, &safe))
	done := false
	for i, ci := range safe {
		if done || !ci.ContentType.Equal(kind) {
			continue
		}
		if kind.Equal(oidEncryptedData) {
			var ed p12EncryptedData
			require.NoError(t, unmarshalAll(ci.Content.Bytes, &ed))
			setIterations(t, &ed.Info.Algorithm, n)
			safe[i].Content = explicit(t, marshal(t, ed))
		} else {
			var data []byte
			var bags []p12SafeBag
			require.NoError(t, unmarshalAll(ci.Content.Bytes, &data))
			require.NoError(t, unmarshalAll(data, &bags))
			for j, b := range bags {
				if !b.ID.Equal(oidShroudedKey) {
					continue
				}
				var k p12EncryptedKey
				require.NoError(t, unmarshalAll(b.Value.Bytes, &k))
				setIterations(t, &k.Algorithm, n)
				bags[j].Value = explicit(t, marshal(t, k))
			}
			safe[i].Content = explicit(t, marshal(t, marshal(t, bags)))
		}
		done = true
	}
	require.True(t, done, "no %v entry", kind)
	pfx.AuthSafe.Content = explicit(t, marshal(t, marshal(t, safe)))
}

func setIterations(t *testing.T, alg *pkix.AlgorithmIdentifier, n int) {
	if alg.Algorithm.Equal(oidPBES2) {
		setPBKDF2(t, alg, n)
		return
	}
	var p p12PBEParams
	require.NoError(t, unmarshalAll(alg.Parameters.FullBytes, &p))
	p.Iterations = n
	alg.Parameters = asn1.RawValue{FullBytes: marshal(t, p)}
}

func setPBKDF2(t *testing.T, alg *pkix.AlgorithmIdentifier, n int) {
	var p p12PBES2Params
	var kdf p12PBKDF2Params
	require.NoError(t, unmarshalAll(alg.Parameters.FullBytes, &p))
	require.NoError(t, unmarshalAll(p.KDF.Parameters.FullBytes, &kdf))
	kdf.Iterations = n
	p.KDF.Parameters = asn1.RawValue{FullBytes: marshal(t, kdf)}
	alg.Parameters = asn1.RawValue{FullBytes: marshal(t, p)}
}

// explicit wraps DER in [0] EXPLICIT, the form a RawValue field tagged explicit holds (encoding/asn1 keeps the
// wrapper in such RawValues, and writes them back as they are).
func explicit(_ *testing.T, der []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: der}
}

func marshal(t *testing.T, v any) []byte {
	b, err := asn1.Marshal(v)
	require.NoError(t, err)
	return b
}
