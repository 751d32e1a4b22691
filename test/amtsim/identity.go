package amtsim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// GUID is a device UUID in AMT's raw byte order: SMBIOS/Microsoft GUID order, whose first
// three groups are little-endian (protocol-cira-wsman §2.5). This is the order APF and
// CIM_ComputerSystemPackage.PlatformGUID carry.
type GUID [16]byte

// ParseGUID reads the canonical 8-4-4-4-12 text form (any case) into raw order.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("guid %q: want the 8-4-4-4-12 form", s)
	}
	text, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil {
		return g, fmt.Errorf("guid %q: %w", s, err)
	}
	// Text order -> raw order: reverse the first three groups.
	g[0], g[1], g[2], g[3] = text[3], text[2], text[1], text[0]
	g[4], g[5] = text[5], text[4]
	g[6], g[7] = text[7], text[6]
	copy(g[8:], text[8:])
	return g, nil
}

// String is the lower-case canonical text form, the device key everywhere in dm-manager.
func (g GUID) String() string {
	t := [16]byte{g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6]}
	copy(t[8:], g[8:])
	h := hex.EncodeToString(t[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// RawHex is the upper-case hex of the raw bytes, as PlatformGUID reports it.
func (g GUID) RawHex() string { return strings.ToUpper(hex.EncodeToString(g[:])) }

// SeededGUID derives the i-th GUID of a fleet from a seed, so that runs are reproducible.
// It has the RFC 4122 version-4 and variant bits so that it looks like a real UUID.
func SeededGUID(seed string, i int) GUID {
	sum := sha256.Sum256([]byte(seed + "/" + strconv.Itoa(i)))
	var text [16]byte
	copy(text[:], sum[:16])
	text[6] = text[6]&0x0f | 0x40
	text[8] = text[8]&0x3f | 0x80
	h := hex.EncodeToString(text[:])
	g, _ := ParseGUID(h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32])
	return g
}
