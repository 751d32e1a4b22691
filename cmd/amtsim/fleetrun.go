package main

import (
	"bufio"
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/amtsim/rpc"
)

// record is the command's view of one device: its last activation and CIRA link.
type record struct {
	d *amtsim.Device

	mu       sync.Mutex
	outcome  string // "", "running", "success", "error", "failed"
	status   string // terminal status text or error
	duration time.Duration

	ciraStarted atomic.Bool
	linkUp      atomic.Bool
}

func (r *record) set(outcome, status string, dur time.Duration) {
	r.mu.Lock()
	r.outcome, r.status, r.duration = outcome, status, dur
	r.mu.Unlock()
}

func (r *record) get() (string, string, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.outcome, r.status, r.duration
}

type runner struct {
	o      options
	log    zerolog.Logger
	fleet  *amtsim.Fleet
	recs   []*record
	byGUID map[string]*record
	dialer *websocket.Dialer
	cira   amtsim.CIRAOptions
	ctx    context.Context

	running, done, linksUp atomic.Int64
}

func newRunner(ctx context.Context, o options, log zerolog.Logger) (*runner, error) {
	r := &runner{o: o, log: log, ctx: ctx, byGUID: make(map[string]*record, o.n)}
	tmpl, err := o.deviceConfig(log)
	if err != nil {
		return nil, err
	}
	tmpl.OnChange = r.onChange
	if r.dialer, err = o.dialer(); err != nil {
		return nil, err
	}
	r.cira = amtsim.CIRAOptions{ServerAddr: o.ciraServer, ServerName: o.ciraServerName, Log: log}
	if o.ciraCA != "" {
		b, err := os.ReadFile(o.ciraCA)
		if err != nil {
			return nil, fmt.Errorf("-ciraCA: %w", err)
		}
		if blk, _ := pem.Decode(b); blk == nil {
			return nil, fmt.Errorf("-ciraCA %s: no PEM certificate found", o.ciraCA)
		}
		r.cira.RootCA = b
	}
	// Records exist before the fleet so that the change hook always finds one.
	r.recs = make([]*record, o.n)
	for i := range r.recs {
		r.recs[i] = &record{}
		r.byGUID[amtsim.SeededGUID(o.guidSeed, i).String()] = r.recs[i]
	}
	if r.fleet, err = amtsim.NewMixedFleet(o.n, o.guidSeed, tmpl, o.tlsEnforced); err != nil {
		return nil, err
	}
	for i, d := range r.fleet.Devices() {
		r.recs[i].d = d
		if i%100 < o.hungOS {
			d.SetOSHung(true)
		}
		if (i+50)%100 < o.unreachable {
			d.SetReachable(false)
		}
	}
	return r, nil
}

// onChange starts a device's CIRA client the first time its CIRA is configured; no
// goroutine exists for a device that never gets there.
func (r *runner) onChange(_ *amtsim.Device, s amtsim.State) {
	rec := r.byGUID[s.GUID]
	if rec == nil || rec.d == nil || !s.CIRAConfigured || !rec.ciraStarted.CompareAndSwap(false, true) {
		return
	}
	opts := r.cira
	opts.OnLink = func(up bool) {
		if rec.linkUp.Swap(up) != up {
			if up {
				r.linksUp.Add(1)
			} else {
				r.linksUp.Add(-1)
			}
		}
	}
	go func() { _ = rec.d.RunCIRA(r.ctx, opts) }()
}

func (r *runner) run(ctx context.Context) error {
	start := time.Now()
	stopProgress := r.startProgress(ctx)
	if r.o.activationURL != "" {
		r.activateAll(ctx)
	}
	stopProgress()
	r.summary(os.Stdout, time.Since(start))
	if r.o.exitAfter {
		return nil
	}
	<-ctx.Done()
	r.summary(os.Stdout, time.Since(start))
	return ctx.Err()
}

func (r *runner) activateAll(ctx context.Context) {
	jobs := make(chan *record)
	var wg sync.WaitGroup
	for range r.o.parallel {
		wg.Go(func() {
			for rec := range jobs {
				r.activate(ctx, rec)
			}
		})
	}
	for _, rec := range r.recs {
		select {
		case jobs <- rec:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
}

// activate runs one rpc-go "activate" session for the device.
func (r *runner) activate(ctx context.Context, rec *record) {
	if ctx.Err() != nil {
		return
	}
	r.running.Add(1)
	defer r.running.Add(-1)
	defer r.done.Add(1)
	rec.set("running", "", 0)
	t0 := time.Now()
	res, err := rpc.Run(ctx, rec.d, rpc.Config{
		URL: r.o.activationURL, Command: rpc.ActivateCommand(r.o.profile, false), TenantID: r.o.tenant,
		Password: r.o.amtPassword, Dialer: r.dialer, Log: r.log,
	})
	switch {
	case err != nil:
		rec.set("failed", err.Error(), time.Since(t0))
	default:
		rec.set(res.Method, res.Text(), time.Since(t0))
	}
}

func (r *runner) startProgress(ctx context.Context) func() {
	if r.o.progress <= 0 {
		return func() {}
	}
	tty := false
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		tty = true
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(r.o.progress)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-stop:
				if tty {
					fmt.Fprintln(os.Stderr)
				}
				return
			case <-t.C:
				line := r.progressLine()
				if tty {
					fmt.Fprintf(os.Stderr, "\r%-110s", line)
				} else {
					fmt.Fprintln(os.Stderr, line)
				}
			}
		}
	})
	return func() { close(stop); wg.Wait() }
}

// counts tallies the fleet: activation outcomes, control modes, CIRA.
type counts struct {
	ok, failed, pre, ccm, acm, ciraConfigured int
	failures                                  map[string]int
	durations                                 []time.Duration
}

func (r *runner) count() counts {
	c := counts{failures: map[string]int{}}
	for _, rec := range r.recs {
		s := rec.d.State()
		switch s.Mode {
		case amtsim.ClientControl:
			c.ccm++
		case amtsim.AdminControl:
			c.acm++
		default:
			c.pre++
		}
		if s.CIRAConfigured {
			c.ciraConfigured++
		}
		outcome, status, dur := rec.get()
		switch outcome {
		case "success":
			c.ok++
			c.durations = append(c.durations, dur)
		case "error", "failed":
			c.failed++
			c.failures[status]++
		}
	}
	return c
}

func (r *runner) progressLine() string {
	c := r.count()
	return fmt.Sprintf("amtsim: %d devices | activations %d/%d ended (%d ok, %d failed), %d running | ccm %d acm %d | cira up %d/%d | rss %s",
		len(r.recs), r.done.Load(), len(r.recs), c.ok, c.failed, r.running.Load(), c.ccm, c.acm,
		r.linksUp.Load(), c.ciraConfigured, rssText())
}

func (r *runner) summary(w io.Writer, elapsed time.Duration) {
	c := r.count()
	fmt.Fprintf(w, "amtsim summary after %s: %d devices\n", elapsed.Round(time.Millisecond), len(r.recs))
	if r.o.activationURL != "" {
		fmt.Fprintf(w, "  activation: %d ok, %d failed, %d not run%s\n", c.ok, c.failed,
			len(r.recs)-c.ok-c.failed, percentiles(c.durations))
	}
	fmt.Fprintf(w, "  modes: pre-provisioning %d, ccm %d, acm %d; CIRA configured %d, tunnels up %d; rss %s\n",
		c.pre, c.ccm, c.acm, c.ciraConfigured, r.linksUp.Load(), rssText())
	reasons := make([]string, 0, len(c.failures))
	for k := range c.failures {
		reasons = append(reasons, k)
	}
	slices.SortFunc(reasons, func(a, b string) int { return c.failures[b] - c.failures[a] })
	for _, k := range reasons {
		fmt.Fprintf(w, "  %6d  %s\n", c.failures[k], k)
	}
}

func percentiles(d []time.Duration) string {
	if len(d) == 0 {
		return ""
	}
	slices.Sort(d)
	at := func(p float64) time.Duration { return d[int(p*float64(len(d)-1))].Round(time.Millisecond) }
	return fmt.Sprintf(" (p50 %s, p95 %s, max %s)", at(0.5), at(0.95), d[len(d)-1].Round(time.Millisecond))
}

// rssKB reads the resident set size from /proc/self/status (Linux), 0 elsewhere.
func rssKB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func rssText() string { return fmt.Sprintf("%.1f MB", float64(rssKB())/1024) }
