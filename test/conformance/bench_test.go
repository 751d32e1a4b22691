package conformance

import (
	"testing"
	"time"

	"github.com/dmrm/dm-manager/test/amtsim"
)

// BenchmarkWSManRoundTrip measures one typed WS-Man exchange (Get AMT_GeneralSettings, decoded) between our client
// and the simulator over loopback TCP, in steady state: digest challenge cached, connection kept alive. Both ends
// run in this process, so allocs/op counts the simulator's allocations too.
func BenchmarkWSManRoundTrip(b *testing.B) {
	ctx := testContext(b)
	r := newRig(b, func(c *amtsim.Config) { c.NonceTTL = time.Hour })
	r.activateCCM(ctx)
	c := r.admin(false)
	if _, err := c.GeneralSettings(ctx); err != nil {
		b.Fatal(err)
	}
	before := r.net.stats()

	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if _, err := c.GeneralSettings(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")

	after := r.net.stats()
	if after.Conns != before.Conns || after.Unauthorized != before.Unauthorized {
		b.Fatalf("steady state broken: %+v -> %+v", before, after)
	}
}
