package serverun

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dmrm/dm-manager/test/load/openloop"
)

// restStats is the outcome of the REST phase.
type restStats struct {
	latencies []time.Duration   // successful requests, from their scheduled start, sorted
	bySecond  [][]time.Duration // the same by the second of the phase they were scheduled in, sorted
	errors    int
	firstErrs []string
	started   int
	achieved  float64 // requests started per second
}

// restLoad sends rate GET generalSettings requests per second for dur, each to a random device, open loop:
// request i starts at its scheduled time whatever earlier ones do, and its latency counts from that time, so a
// slow server cannot hide behind fewer requests (coordinated omission).
func restLoad(ctx context.Context, api, tenant, token string, guids []string, rate float64, dur, timeout time.Duration) restStats {
	tr := &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: timeout}
	var (
		mu  sync.Mutex
		out restStats
	)
	start := time.Now()
	out.started, out.achieved = openloop.Run(ctx, guids, rate, dur, func(guid string, at time.Time) {
		err := get(ctx, client, fmt.Sprintf("http://%s/v1/projects/%s/dm/amt/generalSettings/%s", api, tenant, guid), token)
		took := time.Since(at)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			out.errors++
			if len(out.firstErrs) < 3 {
				out.firstErrs = append(out.firstErrs, fmt.Sprintf("%s: %v", guid, err))
			}
			return
		}
		out.latencies = append(out.latencies, took)
		sec := max(0, int(at.Sub(start)/time.Second))
		for len(out.bySecond) <= sec {
			out.bySecond = append(out.bySecond, nil)
		}
		out.bySecond[sec] = append(out.bySecond[sec], took)
	})
	slices.Sort(out.latencies)
	for _, l := range out.bySecond {
		slices.Sort(l)
	}
	return out
}

// timeline is the phase second by second: requests scheduled in it, their p50, p99 and max latency in ms; it
// tells a stall (a few bad seconds) from a saturated machine (every second bad).
func (q restStats) timeline() string {
	var b strings.Builder
	b.WriteString("second\trequests\tp50_ms\tp99_ms\tmax_ms\n")
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for i, l := range q.bySecond {
		fmt.Fprintf(&b, "%d\t%d\t%.1f\t%.1f\t%.1f\n", i, len(l), ms(openloop.Percentile(l, 0.5)),
			ms(openloop.Percentile(l, 0.99)), ms(openloop.Percentile(l, 1)))
	}
	return b.String()
}

func get(ctx context.Context, c *http.Client, url, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	return nil
}
