package amt

import (
	"bytes"
	"encoding/base64"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Vectors of protocol-recovery §1.4 and §2.5.
func TestTLVVectors(t *testing.T) {
	ps, err := HTTPSBoot{URL: "https://example.com/boot.iso", VerifyServer: true}.Params()
	require.NoError(t, err)
	s, err := EncodeTLVs(ps)
	require.NoError(t, err)
	require.Equal(t, "hoABABwAAABodHRwczovL2V4YW1wbGUuY29tL2Jvb3QuaXNvhoAUAAEAAAAB", s)
	s, err = EncodeTLVs([]TLV{{Type: TLVRPEDeviceBitmask, Value: []byte{0x40, 0, 0, 4}}})
	require.NoError(t, err)
	require.Equal(t, "hoABAAQAAABAAAAE", s)
	pba, err := EFIFileParams(`\EFI\Boot\PBA.efi`)
	require.NoError(t, err)
	s, err = EncodeTLVs(pba)
	require.NoError(t, err)
	require.Equal(t, "hoACABEAAABcRUZJXEJvb3RcUEJBLmVmaYaAAwACAAAAEQA=", s)
	s, err = EncodeTLVs([]TLV{{Type: TLVRPEDeviceBitmask, Value: []byte{0x40, 0, 0, 4}}})
	require.NoError(t, err)
	back, err := DecodeTLVs(s)
	require.NoError(t, err)
	require.Equal(t, []TLV{{Type: 1, Value: []byte{0x40, 0, 0, 4}}}, back)

	for _, bad := range []HTTPSBoot{{URL: "ftp://x/y"}, {URL: "https://u:p@x/y"}, {URL: "/relative"},
		{URL: "https://x/" + string(bytes.Repeat([]byte("a"), 300))}, {URL: "https://x/", CertSHA256: []byte{1}}} {
		_, err := bad.Params()
		require.ErrorIs(t, err, ErrInvalidBootParameter, bad.URL)
	}
}

func TestAlarmIntervals(t *testing.T) {
	for in, want := range map[string]time.Duration{"PT5M": 5 * time.Minute, "P1DT0H30M": 24*time.Hour + 30*time.Minute,
		"P0DT0H0M": 0, "PT1H": time.Hour, "P2D": 48 * time.Hour} {
		d, err := ParseAlarmInterval(in)
		require.NoError(t, err, in)
		require.Equal(t, want, d, in)
	}
	for _, bad := range []string{"", "P", "PT", "5M", "P1Y", "PT-5M"} {
		_, err := ParseAlarmInterval(bad)
		require.Error(t, err, bad)
	}
	require.Equal(t, "P1DT1H1M", AlarmInterval(24*time.Hour+61*time.Minute))
}

// FuzzDecodeTLVs: any input decodes or fails cleanly; what decodes encodes back to the same bytes.
func FuzzDecodeTLVs(f *testing.F) {
	f.Add("hoABABwAAABodHRwczovL2V4YW1wbGUuY29tL2Jvb3QuaXNvhoAUAAEAAAAB")
	f.Add("hoABAAQAAABAAAAE")
	f.Add("hoAB")
	f.Add("hoABAP////8=")
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := DecodeTLVs(s)
		if err != nil {
			return
		}
		again, err := EncodeTLVs(ps)
		require.NoError(t, err)
		raw, _ := base64.StdEncoding.DecodeString(s)
		back, _ := base64.StdEncoding.DecodeString(again)
		require.Equal(t, raw, back)
	})
}

// FuzzParseAlarmInterval: never panics; a parsed interval renders and parses back to whole minutes.
func FuzzParseAlarmInterval(f *testing.F) {
	for _, s := range []string{"PT5M", "P1DT0H30M", "P99999DT99999H99999M99999S", "PT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseAlarmInterval(s)
		if err != nil {
			return
		}
		d2, err := ParseAlarmInterval(AlarmInterval(d))
		require.NoError(t, err)
		require.Equal(t, d.Truncate(time.Minute), d2)
	})
}
