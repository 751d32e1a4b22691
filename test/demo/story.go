package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	inv_v1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/inventory/v1"

	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/test/hip/rig"
)

// demo is one run of the story.
type demo struct {
	o     options
	out   *output
	log   zerolog.Logger
	start time.Time

	tc, api *rig.Rig
	tenant  string
	uuids   []string
	names   map[string]string // host UUID -> display name
	fleet   *fleet
	hist    *history
	own     int // writes the demo itself made to Inventory (tenant, hosts, desired states)
	writes0 writeCounts

	timings []timing
}

type timing struct {
	what string
	took time.Duration
}

func (d *demo) close() {
	d.fleet.stop()
	for _, r := range []*rig.Rig{d.api, d.tc} {
		if r != nil {
			r.Close()
		}
	}
}

func (d *demo) run(ctx context.Context) error {
	d.tenant = uuid.NewString()
	d.hist = newHistory()
	d.out.step(1, "The stack: real Inventory server, dm-manager (embedded CIRA gateway + activation engine), Postgres")
	if err := d.connect(ctx); err != nil {
		return err
	}
	if err := d.createTenant(ctx); err != nil {
		return err
	}
	if d.o.amtsim != "" {
		return d.runAmtsim(ctx)
	}
	if err := d.createHosts(ctx); err != nil {
		return err
	}
	if err := d.activate(ctx); err != nil {
		return err
	}
	if err := d.powerStory(ctx); err != nil {
		return err
	}
	return d.summary(ctx)
}

// connect waits for dm-manager's health to say SERVING and registers the demo's two Inventory clients.
func (d *demo) connect(ctx context.Context) error {
	t0 := time.Now()
	if err := waitServing(ctx, d.o.dmHealthAddress); err != nil {
		return err
	}
	d.out.line("dm-manager health (%s): SERVING", d.o.dmHealthAddress)
	cfg := rig.Config{Address: d.o.inventoryAddress, Tenant: d.tenant}
	var err error
	if d.tc, err = rig.Dial(cfg, rig.Client{Name: "demo tenant controller", Kind: inv_v1.ClientKind_CLIENT_KIND_TENANT_CONTROLLER}); err != nil {
		return err
	}
	if d.api, err = rig.Dial(cfg, rig.Client{Name: "demo EIM user (API)", Kind: inv_v1.ClientKind_CLIENT_KIND_API,
		OnHost: d.hist.record}); err != nil {
		return err
	}
	d.out.line("Inventory (%s): registered as TENANT_CONTROLLER and as API client", d.o.inventoryAddress)
	if d.o.inventoryMetrics != "" {
		if d.writes0, err = readWrites(ctx, d.o.inventoryMetrics); err != nil {
			d.out.line("Inventory writes will not be counted: %v", err)
			d.o.inventoryMetrics = ""
		}
	}
	d.timings = append(d.timings, timing{"stack ready", time.Since(t0)})
	return nil
}

// waitServing polls gRPC health until SERVING.
func waitServing(ctx context.Context, addr string) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("dm-manager health %s: %w", addr, err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	var last error
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		resp, err := hc.Check(cctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		if err != nil {
			last = err
		} else {
			last = fmt.Errorf("status %s", resp.GetStatus())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("dm-manager is not serving on %s (last: %v); see its log", addr, last)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// createTenant creates the tenant as EMF's tenant controller and waits for dm-manager's bootstrap: CIRA config,
// CCM and ACM profiles, the tenant's AMT password.
func (d *demo) createTenant(ctx context.Context) error {
	d.out.step(2, "Tenant controller creates project %s", d.tenant)
	t0 := time.Now()
	t, err := d.tc.CreateTenant(ctx)
	if err != nil {
		return err
	}
	d.own += 2
	d.out.line("Inventory tenant %s: desired CREATED, current CREATED", t.GetResourceId())
	st, err := store.Open(ctx, d.o.databaseURL, store.ConnectOptions{Retries: 3, InitialBackoff: 200 * time.Millisecond}, zerolog.Nop())
	if err != nil {
		return fmt.Errorf("read dm-manager's database to watch the bootstrap: %w", err)
	}
	defer st.Close()
	ccm, acm := d.tenant+"_ccm", d.tenant+"_acm"
	for {
		tn, terr := st.GetTenant(ctx, d.tenant)
		_, perr1 := st.GetProfile(ctx, d.tenant, ccm)
		_, perr2 := st.GetProfile(ctx, d.tenant, acm)
		if terr == nil && perr1 == nil && perr2 == nil {
			d.out.line("dm-manager bootstrapped it in %s: CIRA config (AMT dials %s, trusts the gateway's root CA), "+
				"profiles <tenant>_ccm and <tenant>_acm, AMT password policy %s", round(time.Since(t0)),
				tn.CIRAServerAddress, tn.PasswordPolicy)
			break
		}
		if err := errors.Join(terr, perr1, perr2); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("read the tenant bootstrap: %w", err)
		}
		select {
		case <-ctx.Done():
			return errors.New("dm-manager did not bootstrap the tenant (CIRA config and profiles); see its log")
		case <-time.After(200 * time.Millisecond):
		}
	}
	d.timings = append(d.timings, timing{"tenant bootstrap", time.Since(t0)})
	return nil
}

// createHosts registers the hosts as the EIM API would, vPro enabled.
func (d *demo) createHosts(ctx context.Context) error {
	d.out.step(3, "EIM user registers %d hosts with vPro enabled (desired AMT state PROVISIONED, power ON, policy ORDERED)", d.o.hosts)
	d.names = map[string]string{}
	for i := range d.o.hosts {
		id, name := uuid.NewString(), fmt.Sprintf("edge-%02d", i+1)
		if _, err := d.api.CreateHost(ctx, rig.NewHost(id, name)); err != nil {
			return err
		}
		d.own++
		d.uuids = append(d.uuids, id)
		d.names[id] = name
	}
	d.out.line("created %s … %s", d.names[d.uuids[0]], d.names[d.uuids[len(d.uuids)-1]])
	return nil
}

// activate starts the machines and their node agents and waits until every host is PROVISIONED with its power
// state read over CIRA.
func (d *demo) activate(ctx context.Context) error {
	d.out.step(4, "%d machines boot; their node agents ask dm-manager for activation details and run rpc activate "+
		"(profile <tenant>_ccm) against %s", d.o.hosts, d.o.activationURL)
	names := make([]string, len(d.uuids))
	for i, id := range d.uuids {
		names[i] = d.names[id]
	}
	t0 := time.Now()
	var err error
	if d.fleet, err = startFleet(d.o, d.tenant, d.uuids, names, d.log); err != nil {
		return err
	}
	err = d.converge(ctx, "activation", func(h *computev1.HostResource) bool {
		return h.GetCurrentAmtState() == computev1.AmtState_AMT_STATE_PROVISIONED &&
			h.GetCurrentPowerState() == computev1.PowerState_POWER_STATE_ON
	})
	if err != nil {
		return err
	}
	took := time.Since(t0)
	d.timings = append(d.timings, timing{"activation of all hosts", took})
	p50, pmax := d.hist.percentiles(t0, d.uuids, func(h *computev1.HostResource) bool {
		return h.GetCurrentAmtState() == computev1.AmtState_AMT_STATE_PROVISIONED
	})
	d.out.line("all %d hosts PROVISIONED in %s (per host p50 %s, max %s); %d rpc activate runs; %d CIRA tunnels up",
		d.o.hosts, round(took), round(p50), round(pmax), d.fleet.activations(), d.fleet.linksUp())
	return nil
}

// converge redraws the table every second until cond holds for every host and no power or AMT status is in
// progress. On timeout it names the hosts that did not get there.
func (d *demo) converge(ctx context.Context, title string, cond func(*computev1.HostResource) bool) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var behind []string
	for {
		hosts, err := d.api.Hosts(ctx)
		if err == nil {
			behind = behind[:0]
			for _, h := range hosts {
				d.hist.record(h)
				if !cond(h) || h.GetPowerStatusIndicator() == inProgress || h.GetAmtStatusIndicator() == inProgress {
					behind = append(behind, d.names[h.GetUuid()]+": "+rig.Describe(h))
				}
			}
			done := len(hosts) == len(d.uuids) && len(behind) == 0
			d.out.table(title, hosts, d.names, done)
			if done {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			d.out.flush()
			if len(behind) > 3 {
				behind = append(behind[:3], fmt.Sprintf("and %d more", len(behind)-3))
			}
			return fmt.Errorf("%s did not converge (%w); not there: %s", title, ctx.Err(), strings.Join(behind, "; "))
		case <-tick.C:
		}
	}
}

const inProgress = 2 // statusv1.StatusIndication_STATUS_INDICATION_IN_PROGRESS

func round(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }

// history records every distinct status a host showed, with when it was first seen, from Inventory's events and
// from the table's reads.
type history struct {
	mu   sync.Mutex
	seen map[string][]seenState
}

type seenState struct {
	at   time.Time
	host *computev1.HostResource
}

func newHistory() *history { return &history{seen: map[string][]seenState{}} }

func (h *history) record(host *computev1.HostResource) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.seen[host.GetUuid()]
	if n := len(s); n > 0 && sameReport(s[n-1].host, host) {
		return
	}
	h.seen[host.GetUuid()] = append(s, seenState{at: time.Now(), host: host})
}

func sameReport(a, b *computev1.HostResource) bool {
	return a.GetDesiredPowerState() == b.GetDesiredPowerState() && a.GetCurrentPowerState() == b.GetCurrentPowerState() &&
		a.GetPowerStatus() == b.GetPowerStatus() && a.GetCurrentAmtState() == b.GetCurrentAmtState() &&
		a.GetAmtStatus() == b.GetAmtStatus()
}

// firstAfter is when a host first showed a state matching cond after t0 (zero if never).
func (h *history) firstAfter(t0 time.Time, id string, cond func(*computev1.HostResource) bool) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.seen[id] {
		if !s.at.Before(t0) && cond(s.host) {
			return s.at
		}
	}
	return time.Time{}
}

// statuses are the distinct power statuses a host showed after t0, in order.
func (h *history) statuses(t0 time.Time, id string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, s := range h.seen[id] {
		if t := s.host.GetPowerStatus(); !s.at.Before(t0) && t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// percentiles of the time from t0 until each host first matched cond.
func (h *history) percentiles(t0 time.Time, ids []string, cond func(*computev1.HostResource) bool) (p50, pmax time.Duration) {
	var ds []time.Duration
	for _, id := range ids {
		if at := h.firstAfter(t0, id, cond); !at.IsZero() {
			ds = append(ds, at.Sub(t0))
		}
	}
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2], ds[len(ds)-1]
}
