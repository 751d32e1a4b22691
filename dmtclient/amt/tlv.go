package amt

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
)

// UEFI boot parameters (protocol-recovery §1.4, §2.5): AMT_BootSettingData.UefiBootParametersArray is the base64
// of entries vendor 0x8086 (u16 LE), type (u16 LE), length (u32 LE), value.

// TLV is one UEFI boot parameter.
type TLV struct {
	Type  uint16
	Value []byte
}

// Parameter types used here (§1.4 OCR, §2.5 RPE; the RPE bitmask shares type 1 with the HTTPS URI, the two
// never travel together).
const (
	TLVNetworkDevicePath = 1  // OCR: URI of the HTTPS boot image
	TLVFileDevicePath    = 2  // OCR: path of the .efi to start (PBA, WinRE)
	TLVDevicePathLen     = 3  // OCR: length of the type-2 value (u16)
	TLVSyncRootCA        = 20 // OCR: verify the HTTPS server against AMT's root CAs
	TLVCertHashSHA256    = 23 // OCR: SHA-256 of the HTTPS server certificate
	TLVRequestTimeout    = 30 // OCR: HTTPS request timeout, seconds (u16)
	TLVRPEDeviceBitmask  = 1  // RPE: devices to erase, PlatformErase bit layout (u32)
	tlvVendor            = 0x8086
	tlvHeader            = 8
)

// tlvMax is the largest value per OCR type (§1.4).
var tlvMax = map[uint16]int{TLVNetworkDevicePath: 300, TLVFileDevicePath: 300, TLVSyncRootCA: 1,
	TLVCertHashSHA256: 32, TLVRequestTimeout: 2}

// EncodeTLVs renders params as the base64 array; an empty list is "".
func EncodeTLVs(params []TLV) (string, error) {
	if len(params) == 0 {
		return "", nil
	}
	var b []byte
	for _, p := range params {
		if uint64(len(p.Value)) > 1<<16 {
			return "", fmt.Errorf("UEFI boot parameter type %d: value of %d bytes is too long", p.Type, len(p.Value))
		}
		b = binary.LittleEndian.AppendUint16(b, tlvVendor)
		b = binary.LittleEndian.AppendUint16(b, p.Type)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p.Value))) //nolint:gosec // values are bounded by tlvMax
		b = append(b, p.Value...)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// DecodeTLVs parses a base64 array (for reading back what was written, and for tests).
func DecodeTLVs(s string) ([]TLV, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("UEFI boot parameters are not base64: %w", err)
	}
	var out []TLV
	for off := 0; off < len(raw); {
		if len(raw)-off < tlvHeader {
			return nil, fmt.Errorf("UEFI boot parameter at byte %d: %d bytes left, a header needs 8", off, len(raw)-off)
		}
		if v := binary.LittleEndian.Uint16(raw[off:]); v != tlvVendor {
			return nil, fmt.Errorf("UEFI boot parameter at byte %d: vendor %#04x, want 0x8086", off, v)
		}
		typ, n := binary.LittleEndian.Uint16(raw[off+2:]), binary.LittleEndian.Uint32(raw[off+4:])
		if int64(n) > int64(len(raw)-off-tlvHeader) {
			return nil, fmt.Errorf("UEFI boot parameter type %d at byte %d: length %d exceeds the %d bytes left",
				typ, off, n, len(raw)-off-tlvHeader)
		}
		out = append(out, TLV{Type: typ, Value: raw[off+tlvHeader : off+tlvHeader+int(n)]})
		off += tlvHeader + int(n)
	}
	return out, nil
}

// HTTPSBoot describes a UEFI HTTPS boot (action 105/106).
type HTTPSBoot struct {
	URL string
	// VerifyServer makes the BIOS check the server certificate against AMT's trusted root CAs (type 20), as both
	// reference toolkits always request.
	VerifyServer bool
	// CertSHA256 pins the server certificate (type 23), optional.
	CertSHA256 []byte
	// TimeoutSeconds bounds the HTTPS request (type 30); 0 leaves the BIOS default.
	TimeoutSeconds int
}

// ErrInvalidBootParameter marks a boot parameter that cannot be sent (bad URL, too long).
var ErrInvalidBootParameter = errors.New("invalid UEFI boot parameter")

// Params validates h and returns its parameters. The reference toolkits' credential types (40/41) are not
// offered: both reject them as unimplemented (§1.4).
func (h HTTPSBoot) Params() ([]TLV, error) {
	u, err := url.Parse(h.URL)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return nil, fmt.Errorf("%w: url %q must be an absolute http(s) URL", ErrInvalidBootParameter, h.URL)
	case u.User != nil:
		return nil, fmt.Errorf("%w: url must not carry credentials (AMT's HTTPS boot has no working user/password parameters)", ErrInvalidBootParameter)
	case len(h.URL) > tlvMax[TLVNetworkDevicePath]:
		return nil, fmt.Errorf("%w: url is %d bytes, at most %d", ErrInvalidBootParameter, len(h.URL), tlvMax[TLVNetworkDevicePath])
	case h.CertSHA256 != nil && len(h.CertSHA256) != tlvMax[TLVCertHashSHA256]:
		return nil, fmt.Errorf("%w: certificate SHA-256 must be 32 bytes", ErrInvalidBootParameter)
	case h.TimeoutSeconds < 0 || h.TimeoutSeconds > 65535:
		return nil, fmt.Errorf("%w: timeout must be 0..65535 seconds", ErrInvalidBootParameter)
	}
	ps := []TLV{{Type: TLVNetworkDevicePath, Value: []byte(h.URL)}}
	if h.VerifyServer {
		ps = append(ps, TLV{Type: TLVSyncRootCA, Value: []byte{1}})
	}
	if h.CertSHA256 != nil {
		ps = append(ps, TLV{Type: TLVCertHashSHA256, Value: h.CertSHA256})
	}
	if h.TimeoutSeconds > 0 {
		ps = append(ps, TLV{Type: TLVRequestTimeout, Value: binary.LittleEndian.AppendUint16(nil, uint16(h.TimeoutSeconds))})
	}
	return ps, nil
}

// EFIFileParams are the parameters of a PBA or WinRE boot (actions 107–110): the .efi path and its byte length.
func EFIFileParams(path string) ([]TLV, error) {
	if path == "" || len(path) > tlvMax[TLVFileDevicePath] {
		return nil, fmt.Errorf("%w: boot path must be 1 to %d bytes", ErrInvalidBootParameter, tlvMax[TLVFileDevicePath])
	}
	return []TLV{{Type: TLVFileDevicePath, Value: []byte(path)},
		{Type: TLVDevicePathLen, Value: binary.LittleEndian.AppendUint16(nil, uint16(len(path)))}}, nil //nolint:gosec // len checked above
}
