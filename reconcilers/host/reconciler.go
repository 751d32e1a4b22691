package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dmrm/dm-manager/internal/inventory"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/reconcilers/internal/queue"
)

// Reconciler is the host reconciler. Feed it Inventory host events (OnHost), gateway presence events
// (PresenceChanged), run its journal sweep (Run), and Stop it at shutdown.
type Reconciler struct {
	cfg     Config
	deps    Deps
	log     zerolog.Logger
	q       *queue.Queue[ID]
	started time.Time

	// Two caches, whose loss (restart) costs one extra power-state read or a grace period counted from the
	// restart, never a wrong action: when this process last saw each device disconnect, and the session whose
	// power state was read.
	mu       sync.Mutex
	lastDisc map[string]time.Time
	synced   map[string]time.Time
}

// New starts the reconciler's workers.
func New(cfg Config, deps Deps) (*Reconciler, error) {
	if err := deps.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	r := &Reconciler{
		cfg: cfg, deps: deps, log: cfg.Log.With().Str("component", "host-reconciler").Logger(),
		started: cfg.Clock(), lastDisc: map[string]time.Time{}, synced: map[string]time.Time{},
	}
	r.q = queue.New(r.reconcile, queue.Options{Parallelism: cfg.Parallelism, Timeout: cfg.RequestTimeout,
		Name: "host", Log: r.log, Registerer: cfg.Registerer, Spread: cfg.ResyncPeriod * 3 / 4})
	return r, nil
}

// Enqueue asks for a reconcile of the tenant's host with the given UUID.
func (r *Reconciler) Enqueue(tenant, uuid string) {
	if tenant == "" || uuid == "" {
		return
	}
	r.q.Enqueue(NewID(tenant, uuid))
}

// OnHost is the inventory.Handlers.Host callback. A resync's requests go to the queue's background lane: spread
// over most of the period, and never ahead of an event's.
func (r *Reconciler) OnHost(id inventory.HostID, cause inventory.Cause) {
	if cause != inventory.Resync {
		r.Enqueue(id.Tenant, id.UUID)
	} else if id.Tenant != "" && id.UUID != "" {
		r.q.EnqueueBackground(NewID(id.Tenant, id.UUID))
	}
}

// PresenceChanged is called for each gateway session event (ciragw Subscribe: Connected/Disconnected).
func (r *Reconciler) PresenceChanged(tenant, guid string, connected bool, at time.Time) {
	id := NewID(tenant, guid)
	r.mu.Lock()
	if connected {
		delete(r.lastDisc, id.GUID())
	} else {
		r.lastDisc[id.GUID()] = at
		delete(r.synced, id.GUID())
	}
	r.mu.Unlock()
	r.q.Enqueue(id)
}

// Run reconciles every recorded device once at start (a host deleted from Inventory while dm-manager was down is
// seen by nothing else), then sweeps the journal for entries whose deadline passed (operations of a previous
// process, timers lost with it) at start and every ResyncPeriod, until ctx ends.
func (r *Reconciler) Run(ctx context.Context) error {
	r.sweepDevices(ctx)
	t := time.NewTicker(r.cfg.ResyncPeriod)
	defer t.Stop()
	for {
		r.sweep(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (r *Reconciler) sweep(ctx context.Context) {
	due, err := r.deps.Journal.ListDueJournal(ctx, r.cfg.Clock())
	if err != nil {
		problem(ctx, &r.log).Err(err).Msg("listing due journal entries failed; retrying at the next sweep")
		return
	}
	for _, e := range due {
		if e.Kind == store.OpPower || e.Kind == store.OpDeactivation {
			r.Enqueue(e.TenantID, e.GUID)
		}
	}
}

func (r *Reconciler) sweepDevices(ctx context.Context) {
	tenants, err := r.deps.Devices.ListTenants(ctx)
	if err != nil {
		r.log.Warn().Err(err).Msg("listing tenants for the start-up device sweep failed; Inventory's resync covers existing hosts")
		return
	}
	for _, t := range tenants {
		devs, err := r.deps.Devices.ListDevicesByTenant(ctx, t.ID)
		if err != nil {
			r.log.Warn().Err(err).Str("tenant", t.ID).Msg("listing devices for the start-up sweep failed")
			continue
		}
		for _, d := range devs {
			r.Enqueue(d.TenantID, d.GUID)
		}
	}
}

// Stop stops the workers; in-progress reconciles see their context cancelled.
func (r *Reconciler) Stop() { r.q.Stop() }

func (r *Reconciler) reconcile(ctx context.Context, id ID) queue.Result {
	tenant, guid := id.Tenant(), id.GUID()
	log := r.log.With().Str("tenant", tenant).Str("guid", guid).Logger()
	act, why, dev, err := r.acts(ctx, tenant, guid)
	switch {
	case err != nil:
		problem(ctx, &log).Err(err).Msg("deciding which replica acts failed; retrying")
		return queue.Result{Err: err}
	case !act:
		log.Debug().Str("reason", why).Msg("another replica acts for this host")
		return queue.Result{}
	}
	in, err := r.gather(ctx, log, tenant, guid, dev)
	if err != nil {
		problem(ctx, &log).Err(err).Msg("reading host state failed; retrying")
		return queue.Result{Err: err}
	}
	if in.Host == nil && in.Device.Known && !in.Device.Linked {
		log.Debug().Msg("device has no Inventory host yet; waiting for it to be created")
	}
	st := Decide(in)
	if st.Action == ActReadPower {
		ps, err := r.deps.Power.GetPowerState(ctx, tenant, guid)
		in.Reading = &Reading{State: ps, Err: err}
		if err == nil {
			r.markSynced(guid, in.Device.Since)
		} else {
			log.Info().Err(err).Msg("reading the power state failed")
		}
		if st = Decide(in); st.Action == ActReadPower {
			return queue.Result{Err: errReadLoop}
		}
	}
	return r.apply(ctx, log, in, in.Host, tenant, guid, st)
}

// gather re-reads the world for one host, linking the device record (dev, as acts read it; nil if none) to the
// host first (see link).
func (r *Reconciler) gather(ctx context.Context, log zerolog.Logger, tenant, guid string, dev *store.Device) (Input, error) {
	in := Input{Now: r.cfg.Clock(), Params: r.cfg.Params}
	var err error
	if in.Host, err = r.readHost(ctx, tenant, guid, dev); err != nil {
		return in, err
	}
	if dev, err = r.link(ctx, log, in.Host, dev, tenant); err != nil {
		return in, err
	}
	if in.Power, in.Deactivation, err = r.journalEntries(ctx, guid); err != nil {
		return in, err
	}
	var pv presenceView
	pv.SessionAt, pv.Local = r.deps.Presence.Connected(guid)
	r.mu.Lock()
	pv.LastDisconnect = r.lastDisc[guid]
	synced, ok := r.synced[guid]
	r.mu.Unlock()
	pv.Synced = ok && pv.Local && synced.Equal(pv.SessionAt)
	in.Device = deviceFacts(dev, tenant, pv, r.started, in.Now, r.cfg.Params)
	return in, nil
}

// readHost reads the tenant's host with the given UUID; nil if Inventory has none. A device record linked to a
// host names its resource ID, and a read by ID is cheaper for Inventory than a search by UUID; the search remains
// for unlinked devices and for a link gone stale (host deleted or re-created), which link then repairs.
func (r *Reconciler) readHost(ctx context.Context, tenant, guid string, dev *store.Device) (*computev1.HostResource, error) {
	if dev != nil && dev.TenantID == tenant && dev.HostResourceID != "" {
		h, err := r.deps.Hosts.GetHost(ctx, tenant, dev.HostResourceID)
		switch {
		case err == nil && strings.EqualFold(h.GetUuid(), guid):
			return h, nil
		case err != nil && !isNotFound(err):
			return nil, fmt.Errorf("read host %s from Inventory: %w", dev.HostResourceID, err)
		}
	}
	h, err := r.deps.Hosts.GetHostByUUID(ctx, tenant, guid)
	switch {
	case err == nil:
		return h, nil
	case isNotFound(err):
		return nil, nil
	}
	return nil, fmt.Errorf("read host from Inventory: %w", err)
}

// link records the Inventory host a tenant's device belongs to when the record lacks it (an imported device whose
// host was registered after it dialled in) or names another (a re-created host). Only a linked device is
// deactivated when its host disappears, so an unlinked device must be linked as soon as its host is seen. It returns
// the record as it now stands: nil if it went away meanwhile.
func (r *Reconciler) link(ctx context.Context, log zerolog.Logger, h *computev1.HostResource, dev *store.Device,
	tenant string) (*store.Device, error) {
	rid := h.GetResourceId()
	if dev == nil || dev.TenantID != tenant || rid == "" || dev.HostResourceID == rid {
		return dev, nil
	}
	switch err := r.deps.Devices.SetDeviceHost(ctx, tenant, dev.GUID, rid); {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return dev, fmt.Errorf("link the device record to host %s: %w", rid, err)
	}
	log.Info().Str("host_resource_id", rid).Str("previous_host_resource_id", dev.HostResourceID).
		Msg("device linked to its Inventory host")
	linked := *dev
	linked.HostResourceID = rid
	return &linked, nil
}

// journalEntries reads the device's power and deactivation entries (nil where there is none) in one query.
func (r *Reconciler) journalEntries(ctx context.Context, guid string) (power, deactivation *store.JournalEntry, err error) {
	es, err := r.deps.Journal.ListJournal(ctx, guid)
	if err != nil {
		return nil, nil, fmt.Errorf("read the journal: %w", err)
	}
	for i := range es {
		switch es[i].Kind {
		case store.OpPower:
			power = &es[i]
		case store.OpDeactivation:
			deactivation = &es[i]
		}
	}
	return power, deactivation, nil
}

func (r *Reconciler) markSynced(guid string, session time.Time) {
	r.mu.Lock()
	r.synced[guid] = session
	r.mu.Unlock()
}

// apply carries out a step: status writes, then journal writes, then the device request, whose outcome is
// recorded by Settle's step. The status writer compares with written, the host as gathered plus what this
// reconcile wrote since, instead of reading it again.
func (r *Reconciler) apply(ctx context.Context, log zerolog.Logger, in Input, written *computev1.HostResource,
	tenant, guid string, st Step) queue.Result {
	var err error
	if st.AMT != nil || st.Power != nil {
		if written, err = r.deps.Status.UpdateStatusOf(ctx, tenant, written, inventory.StatusReport{AMT: st.AMT, Power: st.Power}); err != nil {
			problem(ctx, &log).Err(err).Msg("writing the host's status failed; retrying")
			return queue.Result{Err: err}
		}
		if st.AMT != nil {
			log.Info().Str("amt_state", st.AMT.Current.String()).Str("amt_status", st.AMT.Status).Msg("AMT status")
		}
		if st.Power != nil {
			log.Info().Str("power_state", st.Power.Current.String()).Str("power_status", st.Power.Status).Msg("power status")
		}
	}
	for _, op := range st.Journal {
		if err := r.journalOp(ctx, tenant, guid, op); err != nil {
			problem(ctx, &log).Err(err).Msg("writing the journal failed; retrying")
			return queue.Result{Err: err}
		}
	}
	if st.Warn != "" {
		log.Warn().Msg(st.Warn)
	}
	switch st.Action {
	case ActSendPower:
		err = r.deps.Power.RequestPowerStateChange(ctx, tenant, guid, st.PowerValue)
		out := Classify(err)
		log.Info().Int("action", int(st.PowerValue)).Bool("hard", st.Hard).Stringer("outcome", out.Kind).
			Str("reason", out.Reason).Msg("power action sent")
		return r.apply(ctx, log, in, written, tenant, guid, Settle(in, st, out))
	case ActUnprovision:
		err = r.deps.Power.Unprovision(ctx, tenant, guid)
		out := Classify(err)
		log.Info().Stringer("outcome", out.Kind).Str("reason", out.Reason).Msg("AMT deactivation sent")
		return r.apply(ctx, log, in, written, tenant, guid, Settle(in, st, out))
	case ActForget:
		if err := r.forget(ctx, tenant, guid); err != nil {
			problem(ctx, &log).Err(err).Msg("forgetting the device failed; retrying")
			return queue.Result{Err: err}
		}
		log.Info().Msg("device forgotten: secrets, journal and record removed")
	}
	return queue.Result{Err: st.Retry, After: st.After, Requeue: st.Requeue}
}

func (r *Reconciler) journalOp(ctx context.Context, tenant, guid string, op JournalOp) error {
	if op.Delete {
		return r.deps.Journal.DeleteJournal(ctx, guid, op.Entry.Kind)
	}
	e := op.Entry
	e.GUID, e.TenantID = guid, tenant
	_, err := r.deps.Journal.PutJournal(ctx, e)
	return err
}

// forget drops the device: secrets first, the deactivation entry last, so an interrupted forget is finished by
// the next reconcile (every delete tolerates what is already gone).
func (r *Reconciler) forget(ctx context.Context, tenant, guid string) error {
	path, err := secrets.Device(tenant, guid)
	if err != nil {
		return fmt.Errorf("device secrets path: %w", err)
	}
	if err := r.deps.Secrets.Delete(ctx, path); err != nil {
		return fmt.Errorf("delete device secrets: %w", err)
	}
	if err := r.deps.Journal.DeleteJournal(ctx, guid, store.OpPower); err != nil {
		return fmt.Errorf("delete %s journal: %w", store.OpPower, err)
	}
	switch dev, err := r.deps.Devices.GetDevice(ctx, guid); {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("read device record: %w", err)
	case dev.TenantID == tenant: // never another tenant's record under the same GUID
		if err := r.deps.Devices.DeleteDevice(ctx, guid); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("delete device record: %w", err)
		}
	}
	if err := r.deps.Journal.DeleteJournal(ctx, guid, store.OpDeactivation); err != nil {
		return fmt.Errorf("delete deactivation journal: %w", err)
	}
	return nil
}

// errReadLoop would mean Decide asked for a reading although it had one: a bug, retried rather than looped on.
var errReadLoop = errors.New("host reconciler: decision asked for a power reading twice")

func isNotFound(err error) bool {
	return errors.Is(err, inventory.ErrNotFound) || status.Code(err) == codes.NotFound
}

// problem is the log event for a failed step: a warning, except while stopping, when the queue cancels in-flight
// reconciles and their failures are expected.
func problem(ctx context.Context, log *zerolog.Logger) *zerolog.Event {
	if errors.Is(ctx.Err(), context.Canceled) {
		return log.Debug()
	}
	return log.Warn()
}
