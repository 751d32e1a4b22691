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
