// Package serverun is `make load`: the shipped binary, `dm-manager serve`, under a fleet of simulated AMT devices,
// measured from outside. It builds dm-manager, the real Inventory server and the fleet process; runs Inventory and
// one or more replicas (behind HAProxy when more than one) on real Postgres; creates a project as EMF's tenant
// controller does; registers the devices with `dm-manager devices import`; starts fleet processes
// (test/load/devices) that activate their amtsim devices and dial the CIRA gateway; then measures each replica
// through /proc/<pid> (RSS, utime+stime) and its /metrics (sessions, keepalives): the ramp, the RSS per session and
// the CPU over an idle keepalive window, and finally REST → WS-Man latency with an open-loop Go client
// (GET generalSettings: one WS-Man Get through the device's tunnel per request).
package serverun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/dmrm/dm-manager/test/load/openloop"
	"github.com/dmrm/dm-manager/test/procs"
)

// credSeed derives the devices' credentials (creds.For) in the import file and in the fleet processes.
const credSeed = "load"

// Options configures a run.
type Options struct {
	N        int // devices
	Replicas int // dm-manager serve processes; more than one puts HAProxy in front
	// FleetSize is the most devices one fleet process simulates (each holds a descriptor per device).
	FleetSize int
	// LBConns is the most connections one HAProxy process proxies (two descriptors each).
	LBConns int
	// RampRate is devices starting to dial per second, over all fleet processes; MaxDialing caps those dialling
	// but not up yet; Sources is the number of source addresses per fleet process.
	RampRate   float64
	MaxDialing int
	Sources    int
	// Hosts registers a host per device in Inventory before the fleet dials, as EMF's onboarding does: each
	// connect then gets the host reconciler's first look (a power state read through the tunnel and the host's
	// status written to Inventory), and the idle window waits until every host has had it. After the idle window
	// a few hosts are turned off as a user does (userChange), once the resync has many hosts queued or
	// ResyncWait has passed (default 70 s, more than the default -reconcilePeriod).
	Hosts      bool
	ResyncWait time.Duration

	RampTimeout time.Duration // from the first session; the run goes on with whoever is up
	Settle      time.Duration // between the ramp and the idle window
	IdleWindow  time.Duration // CPU is measured over it (AMT keepalives every 30 s: use at least 60 s)

	Rate         float64       // REST requests per second
	Duration     time.Duration // of the REST phase
	QueryTimeout time.Duration // of one REST request

	Dir        string   // logs, the import file
	BinDir     string   // the binaries (default Dir/bin); a stable one lets go build skip relinking
	ServeFlags []string // extra flags for every replica
	ServeEnv   []string // extra environment for every replica (e.g. GOGC=…)
	FleetFlags []string // extra flags for every fleet process
	// Profile runs the replicas with -enableProfiling and saves, per replica, CPU profiles of the ramp (its first 20 s),
	// the idle window and the REST phase and heap profiles after the idle window and after the REST phase in Dir
	// (<replica>-cpu-idle.pprof, <replica>-heap-rest.pprof, …; `go tool pprof -sample_index=alloc_space -diff_base
	// <replica>-heap.pprof <replica>-heap-rest.pprof` is what the REST phase allocated); likewise the fleet
	// processes' CPU profiles (fleet-<i>-cpu-rest.pprof, …) and the REST client's own (client-cpu-rest.pprof).
	// Fetching them costs each process a little CPU of its own.
	Profile bool
	Out     io.Writer
}

// Result is what a run measured.
type Result struct {
	Devices, Connected int
	Up                 time.Duration
	Replicas           []ReplicaResult
	Window             time.Duration
	Lost               int
	REST               restStats
}

// ReplicaResult is one replica's share.
type ReplicaResult struct {
	ID                      string
	Sessions                int
	RSSBeforeKB, RSSIdleKB  int64
	IdleCPU                 time.Duration
	Keepalives              float64
	RSSKBPerSession, CPUPct float64
}

// RSSKBPerSession is the RSS growth of all replicas per connected session, read at the end of the idle window.
func (r Result) RSSKBPerSession() float64 {
	var grow int64
	for _, x := range r.Replicas {
		grow += x.RSSIdleKB - x.RSSBeforeKB
	}
	return float64(grow) / float64(max(r.Connected, 1))
}

// KeepaliveCPUPct is the CPU of all replicas over the idle window, in percent of one core.
func (r Result) KeepaliveCPUPct() float64 {
	var cpu time.Duration
	for _, x := range r.Replicas {
		cpu += x.IdleCPU
	}
	if r.Window <= 0 {
		return 0
	}
	return 100 * cpu.Seconds() / r.Window.Seconds()
}

// Errors counts failed REST requests, devices never connected and sessions lost while idle.
func (r Result) Errors() int { return r.REST.errors + (r.Devices - r.Connected) + r.Lost }

// Line is the one-line summary `make load` prints.
func (r Result) Line() string {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return fmt.Sprintf("load: devices=%d connected=%d up_s=%.1f rss_kb_per_session=%.1f keepalive_cpu_pct=%.2f wsman_p50_ms=%.1f wsman_p99_ms=%.1f errors=%d binary=dm-manager-serve",
		r.Devices, r.Connected, r.Up.Seconds(), r.RSSKBPerSession(), r.KeepaliveCPUPct(),
		ms(openloop.Percentile(r.REST.latencies, 0.5)), ms(openloop.Percentile(r.REST.latencies, 0.99)), r.Errors())
}

// ReplicaLines are one line per replica when there are several.
func (r Result) ReplicaLines() []string {
	if len(r.Replicas) < 2 {
		return nil
	}
	var out []string
	for _, x := range r.Replicas {
		out = append(out, fmt.Sprintf("load-replica: id=%s sessions=%d rss_kb=%d rss_kb_per_session=%.1f keepalive_cpu_pct=%.2f",
			x.ID, x.Sessions, x.RSSIdleKB, x.RSSKBPerSession, x.CPUPct))
	}
	return out
}

func (o *Options) defaults() error {
	switch {
	case o.N < 1 || o.Replicas < 1:
		return errors.New("serverun: at least one device and one replica")
	case o.Rate <= 0 || o.Duration <= 0:
		return errors.New("serverun: the REST rate and duration must be positive")
	case o.Dir == "":
		return errors.New("serverun: Dir is required")
	}
	if o.FleetSize <= 0 {
		o.FleetSize = 10000
	}
	if o.LBConns <= 0 {
		o.LBConns = 9000
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = 10 * time.Second
	}
	if o.ResyncWait <= 0 {
		o.ResyncWait = 70 * time.Second
	}
	if o.RampTimeout <= 0 {
		o.RampTimeout = 5 * time.Minute
	}
	if o.BinDir == "" {
		o.BinDir = filepath.Join(o.Dir, "bin")
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	return nil
}

// Run starts everything, measures and stops everything; it returns when the REST phase is over or ctx ends.
func Run(ctx context.Context, o Options) (Result, error) {
	res := Result{Devices: o.N}
	if err := o.defaults(); err != nil {
		return res, err
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return res, err
	}
	s := &system{o: o}
	defer s.close()
	t0 := time.Now()
	if err := s.build(); err != nil {
		return res, err
	}
	s.say("built dm-manager, the Inventory server and the fleet process in %.1fs", time.Since(t0).Seconds())
	if err := s.start(ctx); err != nil {
		return res, err
	}
	hc := &http.Client{}
	for _, r := range s.replicas {
		var err error
		if r.before, err = sampleProc(r.proc.Pid()); err != nil {
			return res, err
		}
	}
	s.say("Inventory, %d replica(s) of dm-manager serve (pid %s) and tenant %s up; rss before the ramp %s; starting %d fleet process(es) (load avg %s)",
		len(s.replicas), s.pids(), s.tenant, s.rss(func(r *replica) int64 { return r.before.rssKB }), len(s.fleetSizes()), openloop.LoadAvg())
	if err := s.startFleets(); err != nil {
		return res, err
	}
	if err := s.waitRamp(ctx, hc, &res); err != nil {
		return res, err
	}
	if err := openloop.Sleep(ctx, o.Settle); err != nil {
		return res, err
	}
	if err := s.waitReconciled(ctx, hc); err != nil {
		return res, err
	}
	if err := s.idleWindow(ctx, hc, &res); err != nil {
		return res, err
	}
	if o.Hosts {
		if err := s.userChange(ctx, hc); err != nil {
			return res, err
		}
	}
	token, err := userToken(s.tenant)
	if err != nil {
		return res, err
	}
	s.collectFleets(ctx)
	profiled := s.profile(ctx, "cpu-rest", o.Duration)
	traced := s.trace(ctx, "rest", min(o.Duration, 5*time.Second))
	stopClientProfile := s.clientProfile("client-cpu-rest")
	res.REST = restLoad(ctx, s.api, s.tenant, token, s.guids, o.Rate, o.Duration, o.QueryTimeout)
	stopClientProfile()
	profiled()
	traced()
	s.heapProfile(ctx, "heap-rest")
	q := res.REST
	timeline := filepath.Join(o.Dir, "rest-timeline.tsv")
	if err := os.WriteFile(timeline, []byte(q.timeline()), 0o600); err != nil {
		s.say("REST timeline: %v", err)
	}
	ms := func(p float64) float64 { return float64(openloop.Percentile(q.latencies, p).Microseconds()) / 1000 }
	s.say("REST: %d GET generalSettings (one WS-Man Get through the tunnel each) at %.0f/s over %s, open loop: p50 %.1fms p90 %.1fms p99 %.1fms max %.1fms; %d errors (load avg %s); second by second in %s",
		q.started, q.achieved, o.Duration, ms(0.5), ms(0.9), ms(0.99), ms(1), q.errors, openloop.LoadAvg(), timeline)
	for _, e := range q.firstErrs {
		s.say("REST error: %s", e)
	}
	return res, ctx.Err()
}

// waitRamp waits until every device has a session (the sum over the replicas' gauges) or RampTimeout has
// passed since the first one; the fleet processes first activate their devices, which takes a while.
func (s *system) waitRamp(ctx context.Context, hc *http.Client, res *Result) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var first time.Time
	last := time.Now()
	profiled, rampCPU := func() {}, func() {}
	defer func() { profiled() }()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("serverun: waiting for the ramp (%d/%d up): %w", res.Connected, res.Devices, ctx.Err())
		case now := <-t.C:
			if err := s.fleetFailed(); err != nil {
				return err
			}
			sessions, err := s.sumOf(ctx, hc, "dm_manager_ciragw_sessions")
			if err != nil {
				return err
			}
			n := int(sessions)
			res.Connected = n
			if n > 0 && first.IsZero() {
				first = now
				profiled = s.profile(ctx, "cpu-ramp", 20*time.Second)
				rampCPU = s.rampCPU()
			}
			if !first.IsZero() {
				res.Up = now.Sub(first)
			}
			if n >= res.Devices || !first.IsZero() && res.Up >= s.o.RampTimeout {
				s.say("%d/%d sessions up %.1fs after the first (load avg %s)", n, res.Devices, res.Up.Seconds(), openloop.LoadAvg())
				rampCPU()
				if n < res.Devices {
					s.say("WARNING: the ramp did not finish within %s; the idle window below is not idle", s.o.RampTimeout)
				}
				return nil
			}
			if now.Sub(last) >= 5*time.Second {
				s.say("%d sessions up", n)
				last = now
			}
		}
	}
}

// rampCPU samples the CPU time of the replicas and the fleet processes; the function returned says how much each
// used since, so the product's share of the ramp is told apart from the simulated devices'.
func (s *system) rampCPU() func() {
	total := func(ps []*procs.Proc) (d time.Duration) {
		for _, p := range ps {
			cpu, err := cpuOf(p)
			if err != nil {
				s.say("ramp CPU: %v", err)
			}
			d += cpu
		}
		return d
	}
	var replicas []*procs.Proc
	for _, r := range s.replicas {
		replicas = append(replicas, r.proc)
	}
	serve0, fleet0 := total(replicas), total(s.fleets)
	return func() {
		serve, fleet := total(replicas)-serve0, total(s.fleets)-fleet0
		s.say("ramp CPU from the first session to the last: dm-manager serve %.1fs (%.2f ms per device), the fleet %.1fs "+
			"(%.2f ms per device)", serve.Seconds(), perDevice(serve, len(s.guids)), fleet.Seconds(), perDevice(fleet, len(s.guids)))
	}
}

func perDevice(d time.Duration, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(d.Microseconds()) / 1000 / float64(n)
}

// waitReconciled waits (at most 5 minutes) until the replicas' reconcile queues are empty: every connect
// reconciles the device's host, and the idle window should not count that backlog.
func (s *system) waitReconciled(ctx context.Context, hc *http.Client) error {
	const depth = "dm_manager_reconcile_queue_depth"
	t0 := time.Now()
	for {
		n, err := s.sumOf(ctx, hc, depth)
		if err != nil {
			return err
		}
		switch {
		case n == 0:
			s.say("reconcile queues empty %.1fs after the settle pause", time.Since(t0).Seconds())
			return nil
		case time.Since(t0) > 5*time.Minute:
			s.say("WARNING: %.0f reconciles still queued after 5 minutes; the idle window below is not idle", n)
			return nil
		}
		if err := openloop.Sleep(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
}

// idleWindow measures each replica's CPU while the sessions only keep alive, and its RSS at the end.
func (s *system) idleWindow(ctx context.Context, hc *http.Client, res *Result) error {
	const ka, rec = "dm_manager_ciragw_keepalives_total", "dm_manager_reconciles_total"
	for _, r := range s.replicas {
		m, err := scrape(ctx, hc, r.metrics, ka, rec)
		if err != nil {
			return err
		}
		r.keepalives0, r.reconciles0 = m[ka], m[rec]
		if r.before.cpu, err = cpuOf(r.proc); err != nil {
			return err
		}
	}
	t0 := time.Now()
	cpu0 := make([]time.Duration, len(s.replicas))
	for i, r := range s.replicas {
		cpu0[i] = r.before.cpu
	}
	profiled := s.profile(ctx, "cpu-idle", s.o.IdleWindow-time.Second)
	if err := openloop.Sleep(ctx, s.o.IdleWindow); err != nil {
		return err
	}
	res.Window = time.Since(t0)
	profiled()
	sessions := 0
	for i, r := range s.replicas {
		idle, err := sampleProc(r.proc.Pid())
		if err != nil {
			return err
		}
		m, err := scrape(ctx, hc, r.metrics, ka, rec, "dm_manager_ciragw_sessions", "go_goroutines",
			"go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "go_memstats_next_gc_bytes",
			"go_memstats_heap_idle_bytes", "go_memstats_heap_released_bytes")
		if err != nil {
			return err
		}
		x := ReplicaResult{ID: r.id, Sessions: int(m["dm_manager_ciragw_sessions"]), RSSBeforeKB: r.before.rssKB,
			RSSIdleKB: idle.rssKB, IdleCPU: idle.cpu - cpu0[i], Keepalives: m[ka] - r.keepalives0}
		x.RSSKBPerSession = float64(x.RSSIdleKB-x.RSSBeforeKB) / float64(max(x.Sessions, 1))
		x.CPUPct = 100 * x.IdleCPU.Seconds() / res.Window.Seconds()
		sessions += x.Sessions
		res.Replicas = append(res.Replicas, x)
		s.say("%s: %d sessions, rss %d kB (%d kB before the ramp, %.1f kB/session), idle cpu %.2fs = %.2f%% of a core, %.0f keepalives, %.0f reconciles",
			r.id, x.Sessions, x.RSSIdleKB, x.RSSBeforeKB, x.RSSKBPerSession, x.IdleCPU.Seconds(), x.CPUPct, x.Keepalives,
			m[rec]-r.reconciles0)
		mb := func(name string) float64 { return m[name] / (1 << 20) }
		s.say("%s: Go runtime: %.0f goroutines, heap in use %.0f MiB, stacks %.0f MiB, next GC at %.0f MiB, heap idle %.0f MiB (%.0f MiB of it returned to the OS)",
			r.id, m["go_goroutines"], mb("go_memstats_heap_inuse_bytes"), mb("go_memstats_stack_inuse_bytes"),
			mb("go_memstats_next_gc_bytes"), mb("go_memstats_heap_idle_bytes"), mb("go_memstats_heap_released_bytes"))
	}
	res.Lost = max(0, res.Connected-sessions)
	s.heapProfile(ctx, "heap")
	s.say("idle window %.1fs: %.2f%% of a core in all, %.1f kB RSS per session, %d sessions lost (load avg %s)",
		res.Window.Seconds(), res.KeepaliveCPUPct(), res.RSSKBPerSession(), res.Lost, openloop.LoadAvg())
	return nil
}

// cpuOf is a process's CPU time so far (utime+stime).
func cpuOf(p *procs.Proc) (time.Duration, error) {
	ps, err := sampleProc(p.Pid())
	return ps.cpu, err
}

// sumOf adds up one metric over the replicas' /metrics.
func (s *system) sumOf(ctx context.Context, hc *http.Client, name string) (float64, error) {
	sum := 0.0
	for _, r := range s.replicas {
		m, err := scrape(ctx, hc, r.metrics, name)
		if err != nil {
			return 0, err
		}
		sum += m[name]
	}
	return sum, nil
}

func (s *system) pids() string {
	out := ""
	for i, r := range s.replicas {
		if i > 0 {
			out += ","
		}
		out += fmt.Sprint(r.proc.Pid())
	}
	return out
}

func (s *system) rss(f func(*replica) int64) string {
	out := ""
	for i, r := range s.replicas {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%d kB", f(r))
	}
	return out
}
