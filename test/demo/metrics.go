package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// writeMethods are Inventory's write RPCs, as its gRPC server metrics name them.
var writeMethods = map[string]bool{"CreateResource": true, "UpdateResource": true, "DeleteResource": true}

// writeCounts are Inventory's handled write calls by method (grpc_server_handled_total, any code).
type writeCounts map[string]float64

func (w writeCounts) total() float64 {
	var t float64
	for _, v := range w {
		t += v
	}
	return t
}

// readWrites scrapes Inventory's metrics endpoint (Inventory -enableMetrics).
func readWrites(ctx context.Context, url string) (writeCounts, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape Inventory metrics %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape Inventory metrics %s: HTTP %d", url, resp.StatusCode)
	}
	return parseWrites(resp.Body)
}

// parseWrites sums grpc_server_handled_total of the write methods.
func parseWrites(r io.Reader) (writeCounts, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse Inventory metrics: %w", err)
	}
	out := writeCounts{}
	fam := fams["grpc_server_handled_total"]
	if fam == nil {
		return out, nil
	}
	for _, m := range fam.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "grpc_method" && writeMethods[l.GetValue()] {
				out[l.GetValue()] += m.GetCounter().GetValue()
			}
		}
	}
	return out, nil
}
