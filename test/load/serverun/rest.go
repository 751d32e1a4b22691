package serverun

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/dmrm/dm-manager/test/load/openloop"
)

// restStats is the outcome of the REST phase.
type restStats struct {
	latencies []time.Duration // successful requests, from their scheduled start, sorted
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
	})
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
