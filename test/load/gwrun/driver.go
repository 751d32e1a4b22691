package gwrun

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/dmtclient"
	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/test/load/creds"

	"github.com/dmrm/dm-manager/test/load/openloop"
)

// queryStats is the outcome of the WS-Man phase.
type queryStats struct {
	latencies []time.Duration // successful queries, sorted
	warm      []time.Duration // those that reused the device's digest nonce, sorted
	cold      int             // queries that were a device's first (digest 401 round trip included)
	errors    int
	firstErrs []string
	achieved  float64       // queries started per second
	samples   []querySample // every query in start order
}

// querySample is one query: when it started (since the phase began), how long it
// took, whether it was the device's first, and whether it failed.
type querySample struct {
	at, took     time.Duration
	cold, failed bool
}

// writeTSV writes the samples as "start_ms took_ms cold failed" lines.
func (q queryStats) writeTSV(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "start_ms\ttook_ms\tcold\tfailed")
	for _, s := range q.samples {
		fmt.Fprintf(bw, "%.3f\t%.3f\t%t\t%t\n", float64(s.at.Microseconds())/1000, float64(s.took.Microseconds())/1000, s.cold, s.failed)
	}
	return bw.Flush()
}

func (q queryStats) pct(p float64) time.Duration { return openloop.Percentile(q.latencies, p) }

// driver issues PowerState queries through the gateway, one WS-Man client
// per device (its digest nonce is reused across queries, as a long-running
// manager's would be) and one APF channel per query, closed afterwards, as
// MPS does for each GET power/state (§12).
type driver struct {
	g       *ciragw.Gateway
	seed    string
	timeout time.Duration

	mu      sync.Mutex
	clients map[string]*wsman.Client
}

func newDriver(g *ciragw.Gateway, seed string, timeout time.Duration) *driver {
	return &driver{g: g, seed: seed, timeout: timeout, clients: make(map[string]*wsman.Client)}
}

func (d *driver) client(guid string) (*wsman.Client, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.clients[guid]; ok {
		return c, false, nil
	}
	c, err := dmtclient.NewCIRAClient(dmtclient.CIRAClientConfig{Gateway: d.g, GUID: guid, Username: "admin",
		Password: creds.For(d.seed, guid).AMTPassword, OpenTimeout: d.timeout, Timeout: d.timeout})
	if err != nil {
		return nil, false, err
	}
	d.clients[guid] = c
	return c, true, nil
}

func (d *driver) query(ctx context.Context, guid string) (time.Duration, bool, error) {
	c, cold, err := d.client(guid)
	if err != nil {
		return 0, cold, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	t0 := time.Now()
	_, err = amt.New(c).PowerState(ctx)
	lat := time.Since(t0)
	_ = c.Close()
	if err == nil {
		d.g.ObserveWSManLatency(lat)
	}
	return lat, cold, err
}

// run sends rate queries per second for dur to random devices of guids and
// waits for the last answer. Queries are started on schedule whatever the
// latency of earlier ones, so slow answers cannot hide behind fewer requests.
func (d *driver) run(ctx context.Context, guids []string, rate float64, dur time.Duration) queryStats {
	var (
		mu  sync.Mutex
		out queryStats
	)
	start := time.Now()
	_, out.achieved = openloop.Run(ctx, guids, rate, dur, func(guid string, _ time.Time) {
		at := time.Since(start)
		lat, cold, err := d.query(ctx, guid)
		mu.Lock()
		defer mu.Unlock()
		out.samples = append(out.samples, querySample{at: at, took: lat, cold: cold, failed: err != nil})
		if cold {
			out.cold++
		}
		if err != nil {
			out.errors++
			if len(out.firstErrs) < 3 {
				out.firstErrs = append(out.firstErrs, fmt.Sprintf("%s: %v", guid, err))
			}
			return
		}
		out.latencies = append(out.latencies, lat)
		if !cold {
			out.warm = append(out.warm, lat)
		}
	})
	slices.SortFunc(out.samples, func(a, b querySample) int { return cmp.Compare(a.at, b.at) })
	slices.Sort(out.latencies)
	slices.Sort(out.warm)
	return out
}
