package domaincert

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
)

// MaxKDFIterations bounds the key-derivation iteration counts an uploaded PFX may ask for. Real files use 1 to
// 10 000 (OpenSSL 2048, Java 10 000); go-pkcs12 honours whatever count the file states, so without this bound
// one crafted upload could keep a CPU busy for hours. At the bound, decoding takes about a second.
const MaxKDFIterations = 1 << 20

// kdfIterationLimit is the bound in force; the fuzz test lowers it so mutated counts stay cheap.
var kdfIterationLimit = MaxKDFIterations

// The structures below mirror go-pkcs12's own (RFC 7292), parsed the same way (encoding/asn1, no trailing
// data), so anything this pre-check cannot parse go-pkcs12 cannot parse either and rejects before deriving a key.
type p12PFX struct {
	Version  int
	AuthSafe p12ContentInfo
	MacData  p12MacData `asn1:"optional"`
}

type p12ContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

type p12MacData struct {
	Mac struct {
		Algorithm pkix.AlgorithmIdentifier
		Digest    []byte
	}
	MacSalt    []byte
	Iterations int `asn1:"optional,default:1"`
}

type p12EncryptedData struct {
	Version int
	Info    struct {
		ContentType asn1.ObjectIdentifier
		Algorithm   pkix.AlgorithmIdentifier
		Content     []byte `asn1:"tag:0,optional"`
	}
}

type p12SafeBag struct {
	ID         asn1.ObjectIdentifier
	Value      asn1.RawValue   `asn1:"tag:0,explicit"`
	Attributes []asn1.RawValue `asn1:"set,optional"`
}

type p12EncryptedKey struct {
	Algorithm pkix.AlgorithmIdentifier
	Data      []byte
}

type p12PBEParams struct {
	Salt       []byte
	Iterations int
}

// PBES2 and PBMAC1 parameters share this shape: a key-derivation AlgorithmIdentifier, then the scheme's.
type p12PBES2Params struct {
	KDF    pkix.AlgorithmIdentifier
	Scheme pkix.AlgorithmIdentifier
}

type p12PBKDF2Params struct {
	Salt       asn1.RawValue
	Iterations int
	KeyLength  int                      `asn1:"optional"`
	PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
}

var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidShroudedKey   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidPBES2         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBMAC1        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 14}
	oidPBKDF2        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidPKCS12PBE     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1} // pbeWithSHAAnd… family
)

// checkIterations reads every iteration count visible without the password: the MAC's, each encrypted
// content's, and those of key bags stored in plain content. Key bags inside encrypted content are out of its
// reach (they need decrypting first); common tools (OpenSSL, Windows, Java, go-pkcs12) never put them there.
func checkIterations(pfx []byte) error {
	var p p12PFX
	if unmarshalAll(pfx, &p) != nil {
		return nil // go-pkcs12 fails on it too
	}
	if err := limit(p.MacData.Iterations); err != nil {
		return err
	}
	if err := checkAlgorithm(p.MacData.Mac.Algorithm); err != nil {
		return err
	}
	var content asn1.RawValue
	var safe []p12ContentInfo
	if unmarshalAll(p.AuthSafe.Content.Bytes, &content) != nil || unmarshalAll(content.Bytes, &safe) != nil {
		return nil
	}
	for _, ci := range safe {
		switch {
		case ci.ContentType.Equal(oidEncryptedData):
			var ed p12EncryptedData
			if unmarshalAll(ci.Content.Bytes, &ed) != nil {
				return nil
			}
			if err := checkAlgorithm(ed.Info.Algorithm); err != nil {
				return err
			}
		case ci.ContentType.Equal(oidData):
			var data []byte
			var bags []p12SafeBag
			if unmarshalAll(ci.Content.Bytes, &data) != nil || unmarshalAll(data, &bags) != nil {
				return nil
			}
			for _, b := range bags {
				var k p12EncryptedKey
				if !b.ID.Equal(oidShroudedKey) || unmarshalAll(b.Value.Bytes, &k) != nil {
					continue
				}
				if err := checkAlgorithm(k.Algorithm); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkAlgorithm finds the iteration count in PKCS#12 PBE, PBES2 and PBMAC1 parameters.
func checkAlgorithm(alg pkix.AlgorithmIdentifier) error {
	switch oid := alg.Algorithm; {
	case oid.Equal(oidPBES2), oid.Equal(oidPBMAC1):
		var p p12PBES2Params
		var kdf p12PBKDF2Params
		if unmarshalAll(alg.Parameters.FullBytes, &p) != nil || !p.KDF.Algorithm.Equal(oidPBKDF2) ||
			unmarshalAll(p.KDF.Parameters.FullBytes, &kdf) != nil {
			return nil
		}
		return limit(kdf.Iterations)
	case len(oid) == len(oidPKCS12PBE)+1 && oid[:len(oidPKCS12PBE)].Equal(oidPKCS12PBE):
		var p p12PBEParams
		if unmarshalAll(alg.Parameters.FullBytes, &p) != nil {
			return nil
		}
		return limit(p.Iterations)
	}
	return nil
}

func limit(n int) error {
	if n > kdfIterationLimit {
		return fail(ErrTooManyIterations, "The PFX asks for %d key-derivation iterations; at most %d are accepted. "+
			"Re-export it with default settings (OpenSSL uses 2048).", n, kdfIterationLimit)
	}
	return nil
}

func unmarshalAll(b []byte, v any) error {
	rest, err := asn1.Unmarshal(b, v)
	if err == nil && len(rest) > 0 {
		err = errors.New("trailing data")
	}
	return err
}
