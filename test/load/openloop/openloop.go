// Package openloop holds what both load harnesses (test/load/gwrun, the gateway library alone; test/load/serverun,
// the shipped binary) share: the open-loop request schedule and the small measurement helpers.
package openloop

import (
	"context"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"
)

// Run starts rate requests per second for dur, each to a device drawn from guids with a fixed seed (runs pick the
// same devices), open loop: request i starts at its scheduled time whatever earlier ones do, so a slow server cannot
// hide behind fewer requests (coordinated omission). send runs in its own goroutine with the scheduled start. Run
// returns once every send has, with the number started and the rate achieved.
func Run(ctx context.Context, guids []string, rate float64, dur time.Duration, send func(guid string, at time.Time)) (
	started int, achieved float64,
) {
	var wg sync.WaitGroup
	rng := rand.New(rand.NewPCG(1, 2)) //nolint:gosec // G404: a fixed seed makes runs pick the same devices
	total := int(rate * dur.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := range total {
		at := start.Add(time.Duration(i) * interval)
		if Sleep(ctx, time.Until(at)) != nil || ctx.Err() != nil {
			break
		}
		guid := guids[rng.IntN(len(guids))]
		started++
		wg.Go(func() { send(guid, at) })
	}
	achieved = float64(started) / max(time.Since(start), dur).Seconds()
	wg.Wait()
	return started, achieved
}

// Percentile of sorted durations, nearest rank; 0 when there are none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(p*float64(len(sorted)-1)+0.5)]
}

// LoadAvg is the first three fields of /proc/loadavg.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// Sleep waits d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
