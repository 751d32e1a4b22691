package serverun

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"
)

// restStats is the outcome of the REST phase.
type restStats struct {
	latencies []time.Duration // successful requests, from their scheduled start, sorted
	errors    int
	firstErrs []string
	started   int
	achieved  float64 // requests started per second
}

// percentile of sorted durations, nearest rank; 0 when there are none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(p*float64(len(sorted)-1)+0.5)]
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
		wg  sync.WaitGroup
	)
	rng := rand.New(rand.NewPCG(1, 2)) //nolint:gosec // G404: a fixed seed makes runs pick the same devices
	total := int(rate * dur.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := range total {
		at := start.Add(time.Duration(i) * interval)
		if wait := time.Until(at); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			break
		}
		guid := guids[rng.IntN(len(guids))]
		out.started++
		wg.Go(func() {
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
		})
	}
	out.achieved = float64(out.started) / max(time.Since(start), dur).Seconds()
	wg.Wait()
	slices.Sort(out.latencies)
	return out
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
