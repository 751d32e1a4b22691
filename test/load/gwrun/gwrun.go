// Package gwrun is the gateway side of the load harness: a real
// ciragw.Gateway with in-memory backends, which waits for the device fleet to
// connect, measures memory per session, CPU over an idle keepalive window and
// WS-Man latency through CIRA channels, and reports one `load:` line.
package gwrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/ciragw"

	"github.com/dmrm/dm-manager/test/load/openloop"
)

// Options configures a load run.
type Options struct {
	Addr string // listen address (loopback), e.g. 127.0.0.1:0
	Name string // FQDN in the server certificate, the AddMpServer address of the devices
	N    int    // devices expected
	Seed string // credential seed shared with the devices (creds.For)
	// AuthDelay is added to every login, standing in for backend latency.
	AuthDelay time.Duration

	Keepalive   time.Duration // KEEPALIVE_OPTIONS interval sent to AMT (production: 30s)
	IdleWindow  time.Duration // CPU is measured over this idle window; at least 2 keepalive intervals
	RampTimeout time.Duration // from the first connection; the run goes on with whoever is up
	Settle      time.Duration // pause between the ramp and the memory reading

	Rate         float64       // WS-Man queries per second
	Duration     time.Duration // of the WS-Man phase
	QueryTimeout time.Duration

	// LatencyFile, if set, receives every WS-Man query as a TSV line.
	LatencyFile string
	// ProfileDir, if set, receives heap.pprof after the ramp and
	// cpu-ramp.pprof / cpu-idle.pprof / cpu-wsman.pprof.
	ProfileDir string
	// Registry receives the gateway metrics (nil: a private one); main serves
	// it on -debug.
	Registry *prometheus.Registry
	// Ready is called once the gateway listens, with its address and CA root
	// (PEM); the devices are started from there.
	Ready func(addr string, rootPEM []byte) error
	Out   io.Writer // human-readable progress lines
	Log   zerolog.Logger
}

// Result is what a run measured.
type Result struct {
	Devices, Connected int
	Up                 time.Duration
	Before, Ramp, Idle memSample // before the ramp, right after it, settled (GC + scavenge)
	IdleCPU            time.Duration
	IdleWindow         time.Duration
	Keepalives         float64
	IdleHandshakes     float64 // handshakes during the idle window: not idle if any
	Lost               int     // sessions lost during the idle window
	HandshakeFailures  float64
	Queries            queryStats
}

// RSSKBPerSession is the settled RSS growth per connected session.
func (r Result) RSSKBPerSession() float64 {
	if r.Connected == 0 {
		return 0
	}
	return float64(r.Idle.rssKB-r.Before.rssKB) / float64(r.Connected)
}

// KeepaliveCPUPct is the gateway's CPU over the idle window, in percent of one core.
func (r Result) KeepaliveCPUPct() float64 {
	if r.IdleWindow <= 0 {
		return 0
	}
	return 100 * r.IdleCPU.Seconds() / r.IdleWindow.Seconds()
}

// Errors counts failed WS-Man queries, failed handshakes and sessions lost while idle.
func (r Result) Errors() int {
	return r.Queries.errors + int(r.HandshakeFailures) + r.Lost
}

// Line is the one-line summary `make load` prints.
func (r Result) Line() string {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return fmt.Sprintf("load: devices=%d connected=%d up_s=%.1f rss_kb_per_session=%.1f keepalive_cpu_pct=%.2f wsman_p50_ms=%.1f wsman_p99_ms=%.1f errors=%d",
		r.Devices, r.Connected, r.Up.Seconds(), r.RSSKBPerSession(), r.KeepaliveCPUPct(),
		ms(r.Queries.pct(0.5)), ms(r.Queries.pct(0.99)), r.Errors())
}

// Run serves the gateway and runs every phase; it returns when the WS-Man
// phase is over (or ctx ends, with ctx's error) after stopping the gateway.
func Run(ctx context.Context, o Options) (res Result, err error) {
	res = Result{Devices: o.N, IdleWindow: o.IdleWindow}
	say := func(format string, args ...any) { fmt.Fprintf(o.Out, "gateway: "+format+"\n", args...) }

	ca, err := ciragw.LoadOrCreateCA(ctx, &caStore{})
	if err != nil {
		return res, err
	}
	cert, err := ca.ServerCertificate(o.Name, "127.0.0.1")
	if err != nil {
		return res, err
	}
	reg := o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	g, err := ciragw.New(ciragw.Config{
		Certificate: cert, Authenticator: authenticator{seed: o.Seed, delay: o.AuthDelay}, Presence: &presenceSink{},
		Registerer: reg, Logger: o.Log, KeepaliveInterval: o.Keepalive,
	})
	if err != nil {
		return res, err
	}
	raw, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return res, fmt.Errorf("gwrun: listening on %s: %w", o.Addr, err)
	}
	ln := &firstAccept{Listener: raw}
	gctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- g.Serve(gctx, ln) }()
	defer func() {
		stop()
		if serr := <-served; serr != nil && err == nil {
			err = serr
		}
	}()

	res.Before = sample(true)
	say("listening on %s, rss %d kB before the ramp; waiting for %d devices (load avg %s)",
		raw.Addr(), res.Before.rssKB, o.N, openloop.LoadAvg())
	if err := o.Ready(raw.Addr().String(), ca.RootPEM()); err != nil {
		return res, err
	}

	stopProf := o.cpuProfile("cpu-ramp.pprof")
	cpu0 := cpuTime()
	err = waitRamp(ctx, ln, reg, o, &res)
	rampCPU := cpuTime() - cpu0
	stopProf()
	if err != nil {
		return res, err
	}
	res.HandshakeFailures = metricSum(reg, "dm_manager_ciragw_handshakes_total", "result", "!ok")
	say("%d/%d sessions up %.1fs after the first connection; handshakes: %s; refused logins: %s; gateway cpu %.1fs (%.2f ms per session) (load avg %s)",
		res.Connected, o.N, res.Up.Seconds(), breakdown(reg, "dm_manager_ciragw_handshakes_total", "result"),
		breakdown(reg, "dm_manager_ciragw_auth_failures_total", "reason"), rampCPU.Seconds(),
		float64(rampCPU.Microseconds())/1000/float64(max(res.Connected, 1)), openloop.LoadAvg())

	if err := openloop.Sleep(ctx, o.Settle); err != nil {
		return res, err
	}
	res.Ramp = sample(false)
	o.heapProfile()
	res.Idle = sample(true)
	per := func(v uint64) float64 { return float64(v) / float64(max(res.Connected, 1)) }
	say("rss %d kB right after the ramp, %d kB settled (GC + scavenge): %.1f kB/session settled, %.1f kB/session unsettled; heap %.0f B/session, stacks %.0f B/session, %.1f goroutines/session",
		res.Ramp.rssKB, res.Idle.rssKB, res.RSSKBPerSession(),
		float64(res.Ramp.rssKB-res.Before.rssKB)/float64(max(res.Connected, 1)),
		per(res.Idle.heapInuse-res.Before.heapInuse), per(res.Idle.stacks-res.Before.stacks),
		float64(res.Idle.goroutines-res.Before.goroutines)/float64(max(res.Connected, 1)))

	if err := idleWindow(ctx, reg, o, &res); err != nil {
		return res, err
	}
	say("idle window %s with keepalive interval %s: %.0f keepalives answered (expected ~%.0f), cpu %.2fs = %.2f%% of one core, %d sessions lost, %.0f handshakes meanwhile (load avg %s)",
		o.IdleWindow, o.Keepalive, res.Keepalives, float64(res.Connected)*o.IdleWindow.Seconds()/o.Keepalive.Seconds(),
		res.IdleCPU.Seconds(), res.KeepaliveCPUPct(), res.Lost, res.IdleHandshakes, openloop.LoadAvg())

	guids := make([]string, 0, res.Connected)
	for _, s := range g.Sessions() {
		guids = append(guids, s.GUID)
	}
	if len(guids) == 0 {
		return res, errors.New("gwrun: no device connected, nothing to query")
	}
	stopProf = o.cpuProfile("cpu-wsman.pprof")
	d := newDriver(g, o.Seed, o.QueryTimeout)
	res.Queries = d.run(ctx, guids, o.Rate, o.Duration)
	stopProf()
	q := res.Queries
	ms := func(p float64) float64 { return float64(q.pct(p).Microseconds()) / 1000 }
	say("wsman: %d PowerState queries (Enumerate+Pull, one channel each) at %.0f/s over %s, %d to a device for the first time (+1 digest 401); p50 %.1fms p90 %.1fms p99 %.1fms max %.1fms; %d errors (load avg %s)",
		len(q.latencies)+q.errors, q.achieved, o.Duration, q.cold, ms(0.5), ms(0.9), ms(0.99), ms(1), q.errors, openloop.LoadAvg())
	say("wsman: the %d queries to a device already met: p50 %.1fms p99 %.1fms", len(q.warm),
		float64(openloop.Percentile(q.warm, 0.5).Microseconds())/1000, float64(openloop.Percentile(q.warm, 0.99).Microseconds())/1000)
	if o.LatencyFile != "" {
		if err := writeLatencies(o.LatencyFile, q); err != nil {
			say("writing %s: %v", o.LatencyFile, err)
		}
	}
	for _, e := range q.firstErrs {
		say("wsman error: %s", e)
	}
	return res, ctx.Err()
}

// waitRamp waits until N sessions are up or RampTimeout has passed since the
// first connection.
func waitRamp(ctx context.Context, ln *firstAccept, reg prometheus.Gatherer, o Options, res *Result) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	lastReport := time.Now()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-t.C:
			n := int(metricSum(reg, "dm_manager_ciragw_sessions", "", ""))
			first, started := ln.first()
			res.Connected = n
			if started {
				res.Up = now.Sub(first)
			}
			if n >= o.N || started && res.Up >= o.RampTimeout {
				return nil
			}
			if now.Sub(lastReport) >= 5*time.Second {
				fmt.Fprintf(o.Out, "gateway: %d sessions\n", n)
				lastReport = now
			}
		}
	}
}

// idleWindow measures the process CPU while the sessions only keep alive.
func idleWindow(ctx context.Context, reg prometheus.Gatherer, o Options, res *Result) error {
	stopProf := o.cpuProfile("cpu-idle.pprof")
	hs0 := metricSum(reg, "dm_manager_ciragw_handshakes_total", "", "")
	ka0, cpu0, t0 := metricSum(reg, "dm_manager_ciragw_keepalives_total", "", ""), cpuTime(), time.Now()
	err := openloop.Sleep(ctx, o.IdleWindow)
	res.IdleCPU, res.IdleWindow = cpuTime()-cpu0, time.Since(t0)
	res.Keepalives = metricSum(reg, "dm_manager_ciragw_keepalives_total", "", "") - ka0
	res.IdleHandshakes = metricSum(reg, "dm_manager_ciragw_handshakes_total", "", "") - hs0
	stopProf()
	res.Lost = max(0, res.Connected-int(metricSum(reg, "dm_manager_ciragw_sessions", "", "")))
	return err
}

func (o Options) cpuProfile(name string) func() {
	if o.ProfileDir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(o.ProfileDir, name)) //nolint:gosec // G304: the operator's profile directory
	if err != nil {
		o.Log.Warn().Err(err).Msg("cpu profile")
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		o.Log.Warn().Err(err).Msg("cpu profile")
		_ = f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}

func (o Options) heapProfile() {
	if o.ProfileDir == "" {
		return
	}
	f, err := os.Create(filepath.Join(o.ProfileDir, "heap.pprof")) //nolint:gosec // G304: the operator's profile directory
	if err != nil {
		o.Log.Warn().Err(err).Msg("heap profile")
		return
	}
	defer func() { _ = f.Close() }()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		o.Log.Warn().Err(err).Msg("heap profile")
	}
}

func writeLatencies(path string, q queryStats) error {
	f, err := os.Create(path) //nolint:gosec // G304: the operator's output file
	if err != nil {
		return err
	}
	if err := q.writeTSV(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
