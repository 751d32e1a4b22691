package wsman

import (
	"context"
	"testing"
)

// BenchmarkWSManRoundTrip: one authenticated Get of AMT_GeneralSettings over loopback TCP with the digest
// challenge cached and the connection kept alive (chunked response, as AMT sends it).
func BenchmarkWSManRoundTrip(b *testing.B) {
	s := newTestAMT(b)
	s.chunk = 0x220
	c := s.client(b, nil)
	ctx := context.Background()
	uri := AMT("AMT_GeneralSettings")
	if _, err := c.Get(ctx, uri); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r, err := c.Get(ctx, uri)
		if err != nil {
			b.Fatal(err)
		}
		var gs generalSettings
		if err := r.Decode(&gs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResponseParse: one AMT-shaped chunked 200 (AMT_GeneralSettings, 0x220-byte chunks) parsed from memory.
func BenchmarkResponseParse(b *testing.B) {
	raw := []byte(amt200(generalSettingsResponse("1"), 0x220))
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := parseResponse(raw, DefaultMaxResponseBytes); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseEnvelope: the header walk of an AMT_GeneralSettings Get response, and its body decoded.
func BenchmarkParseEnvelope(b *testing.B) {
	raw := []byte(generalSettingsResponse("1"))
	b.Run("header", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseEnvelope(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("body", func(b *testing.B) {
		r, err := parseEnvelope(raw)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			var gs generalSettings
			if err := r.Decode(&gs); err != nil {
				b.Fatal(err)
			}
		}
	})
}
