package apf

import (
	"encoding/hex"
	"fmt"
)

// The 16 UUID bytes of PROTOCOLVERSION are in SMBIOS/Microsoft GUID order: the
// first three groups are little-endian, the last two big-endian (§2.5).
// wireOrder[i] is the index in the wire bytes of the i-th byte of the
// canonical (big-endian) text form.
var wireOrder = [16]int{3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15}

// isDash tells the positions of '-' in the canonical 8-4-4-4-12 text form.
func isDash(i int) bool { return i == 8 || i == 13 || i == 18 || i == 23 }

// GUIDString converts PROTOCOLVERSION UUID bytes to the device identity: the
// lower-case canonical text form (raw 44454C4C4B0010428033B6C04F504633 →
// 4c4c4544-004b-4210-8033-b6c04f504633).
func GUIDString(wire [16]byte) string {
	var canon [16]byte
	for i, w := range wireOrder {
		canon[i] = wire[w]
	}
	var out [36]byte
	src := hex.AppendEncode(nil, canon[:])
	j := 0
	for i := range out {
		if isDash(i) {
			out[i] = '-'
			continue
		}
		out[i] = src[j]
		j++
	}
	return string(out[:])
}

// ParseGUID converts a canonical GUID text (either case) to the 16 bytes AMT
// puts in PROTOCOLVERSION; it is the inverse of GUIDString.
func ParseGUID(s string) ([16]byte, error) {
	var wire [16]byte
	if len(s) != 36 {
		return wire, fmt.Errorf("apf: GUID %q: want 36 characters in 8-4-4-4-12 form, got %d", s, len(s))
	}
	digits := make([]byte, 0, 32)
	for i := 0; i < len(s); i++ {
		if isDash(i) {
			if s[i] != '-' {
				return wire, fmt.Errorf("apf: GUID %q: want '-' at position %d", s, i)
			}
			continue
		}
		digits = append(digits, s[i])
	}
	var canon [16]byte
	if _, err := hex.Decode(canon[:], digits); err != nil {
		return wire, fmt.Errorf("apf: GUID %q: %w", s, err)
	}
	for i, w := range wireOrder {
		wire[w] = canon[i]
	}
	return wire, nil
}
