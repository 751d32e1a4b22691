package amtsim

import (
	"crypto/sha1" //nolint:gosec // AMT's trusted-hash table holds SHA-1 entries (protocol-rps-activation §2.4)
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
)

// RootHash is one entry of AMT's trusted root certificate hash table, the anchors an
// ACM provisioning chain must end in (protocol-rps-activation §2.4 COMPARE_DEVICE_HASHES).
type RootHash struct {
	Name    string
	Hash    []byte // SHA-1 (20), SHA-256 (32) or SHA-384 (48) of the root certificate DER
	Default bool
	Active  bool
}

// Hex is the lower-case hex form rpc-go sends in certHashes (§1.5).
func (h RootHash) Hex() string { return hex.EncodeToString(h.Hash) }

// NewRootHash hashes a root certificate's DER with SHA-256 into an active, non-default entry.
func NewRootHash(name string, der []byte) RootHash {
	sum := sha256.Sum256(der)
	return RootHash{Name: name, Hash: sum[:], Active: true}
}

// ParseRootHash reads a hex hash of 40, 64 or 96 digits.
func ParseRootHash(name, hexHash string) (RootHash, error) {
	b, err := hex.DecodeString(hexHash)
	if err != nil || (len(b) != sha1.Size && len(b) != sha256.Size && len(b) != sha512.Size384) {
		return RootHash{}, fmt.Errorf("root hash %q: want 40, 64 or 96 hex digits", hexHash)
	}
	return RootHash{Name: name, Hash: b, Active: true}, nil
}

// rootDigests returns the root DER's digests keyed by length, for matching against
// entries of any supported algorithm.
func rootDigests(der []byte) map[int][]byte {
	s1 := sha1.Sum(der) //nolint:gosec // see import comment
	s256 := sha256.Sum256(der)
	s384 := sha512.Sum384(der)
	return map[int][]byte{len(s1): s1[:], len(s256): s256[:], len(s384): s384[:]}
}

// defaultRootHashes is the factory table: the SHA-256 hashes an AMT 11.8 device reported
// in the RPS test payload (protocol-rps-activation §7.1). Shared by all devices until one
// of them changes its table (copy on write).
var defaultRootHashes = func() []RootHash {
	hexes := []string{
		"e7685634efacf69ace939a6b255b7b4fabef42935b50a265acb5cb6027e44e70",
		"eb04cf5eb1f39afa762f2bb120f296cba520c1b97db1589565b81cb9a17b7244",
		"c3846bf24b9e93ca64274c0ec67c1ecc5e024ffcacd2d74019350e81fe546ae4",
		"d7a7a0fb5d7e2731d771e9484ebcdef71d5f0c3e0a2948782bc83ee0ea699ef4",
		"1465fa205397b876faa6f0a9958e5590e40fcc7faa4fb7c2c8677521fb5fb658",
		"83ce3c1229688a593d485f81973c0f9195431eda37cc5e36430e79c7a888638b",
		"a4b6b3996fc2f306b3fd8681bd63413d8c5009cc4fa329c2ccf0e2fa1b140305",
		"9acfab7e43c8d880d06b262a94deeee4b4659989c3d0caf19baf6405e41ab7df",
		"a53125188d2110aa964b02c7b7c6da3203170894e5fb71fffb6667d5e6810a36",
		"16af57a9f676b0ab126095aa5ebadef22ab31119d644ac95cd4b93dbf3f26aeb",
		"960adf0063e96356750c2965dd0a0867da0b9cbd6e77714aeafb2349ab393da3",
		"68ad50909b04363c605ef13581a939ff2c96372e3f12325b0a6861e1d59f6603",
		"6dc47172e01cbcb0bf62580d895fe2b8ac9ad4f873801e0c10b9c837d21eb177",
		"73c176434f1bc6d5adf45b0e76e727287c8de57616c1e6e6141a2b2cbc7d8e4c",
		"2399561127a57125de8cefea610ddf2fa078b5c8067f4e828290bfb860e84b3c",
		"45140b3247eb9cc8c5b4f0d7b53091f73292089e6e5a63e2749dd3aca9198eda",
		"43df5774b03e7fef5fe40d931a7bedf1bb2e6b42738c4e6d3841103d3aa7f339",
		"2ce1cb0bf9d2f9e102993fbe215152c3b2dd0cabde1c68e5319b839154dbb7f5",
		"70a73f7f376b60074248904534b11482d5bf0e698ecc498df52577ebf2e93b9a",
	}
	out := make([]RootHash, len(hexes))
	for i, h := range hexes {
		b, _ := hex.DecodeString(h)
		out[i] = RootHash{Name: fmt.Sprintf("Default root %d", i+1), Hash: b, Default: true, Active: true}
	}
	return out
}()

// DefaultRootHashes returns a copy of the factory trusted-hash table.
func DefaultRootHashes() []RootHash { return append([]RootHash(nil), defaultRootHashes...) }
