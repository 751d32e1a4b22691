package host

import (
	"context"
	"fmt"
	"sync"
	"time"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	"google.golang.org/protobuf/proto"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/inventory"
	"github.com/dmrm/dm-manager/internal/store"
)

// world fakes the reconciler's dependencies for orchestration tests: one host, its device, the journal, AMT and
// presence, recording every call in order.
type world struct {
	mu      sync.Mutex
	events  []string
	host    *computev1.HostResource // nil: not in Inventory
	dev     *store.Device
	journal map[store.OpKind]store.JournalEntry
	amt     amt.PowerState
	sendErr error // returned by the next RequestPowerStateChange (then cleared)
	local   bool
	session time.Time
	writes  int
	// Inventory host reads by resource ID and by UUID.
	readsByID, readsByUUID int
	notify                 chan string            // every event, when set
	onSend                 func(v amt.PowerState) // called as a power request arrives, before it takes effect
	version                int                    // Inventory's updated_at, as a counter: bumped by every write
}

// touch marks the host updated, as Inventory sets updated_at on every Update (a write of unchanged values too).
func (w *world) touch() {
	w.version++
	w.host.UpdatedAt = fmt.Sprintf("2026-07-01T12:00:%02d.000Z", w.version%60)
}

// userWrites sets the desired power state as a user does, the same value included.
func (w *world) userWrites(d computev1.PowerState) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.host.DesiredPowerState = d
	w.touch()
}

func newWorld(h *computev1.HostResource) *world {
	return &world{host: h, journal: map[store.OpKind]store.JournalEntry{}, amt: amt.PowerOn,
		dev: &store.Device{GUID: h.GetUuid(), TenantID: h.GetTenantId(), HostResourceID: h.GetResourceId(),
			ActivationState: store.StateActivated, ConnectionState: store.ConnectionConnected, OwnerReplica: "replica-a"},
		local: true, session: time.Now().Add(-time.Hour)}
}

func (w *world) deps() Deps {
	return Deps{Hosts: w, Status: w, Devices: w, Journal: w, Power: w, Presence: w, Secrets: w}
}

func (w *world) record(format string, args ...any) {
	ev := fmt.Sprintf(format, args...)
	w.events = append(w.events, ev)
	if w.notify != nil {
		w.notify <- ev
	}
}

func (w *world) log() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.events...)
}

func (w *world) GetHost(_ context.Context, _, resourceID string) (*computev1.HostResource, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.readsByID++
	if w.host == nil || w.host.GetResourceId() != resourceID {
		return nil, inventory.ErrNotFound
	}
	return proto.Clone(w.host).(*computev1.HostResource), nil
}

func (w *world) GetHostByUUID(_ context.Context, _, _ string) (*computev1.HostResource, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.readsByUUID++
	if w.host == nil {
		return nil, inventory.ErrNotFound
	}
	return proto.Clone(w.host).(*computev1.HostResource), nil
}

func (w *world) UpdateStatusOf(_ context.Context, _ string, cur *computev1.HostResource, r inventory.StatusReport,
) (*computev1.HostResource, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.checkCurrent(cur)
	if a := r.AMT; a != nil {
		w.host.CurrentAmtState, w.host.AmtStatus, w.host.AmtStatusIndicator = a.Current, a.Status, a.Indicator
		w.record("amt %s %q", a.Current, a.Status)
	}
	if p := r.Power; p != nil {
		w.host.CurrentPowerState, w.host.PowerStatus, w.host.PowerStatusIndicator = p.Current, p.Status, p.Indicator
		if p.OnTime != nil {
			w.host.PowerOnTime = *p.OnTime
		}
		w.record("power %s %q", p.Current, p.Status)
	}
	w.touch()
	w.writes++
	return proto.Clone(w.host).(*computev1.HostResource), nil
}

// checkCurrent records a status write compared with a host that misses what the reconciler itself wrote before
// (the real writer would wrongly skip a write): nothing else changes the status fields during a reconcile here.
func (w *world) checkCurrent(cur *computev1.HostResource) {
	if cur.GetPowerStatus() != w.host.GetPowerStatus() || cur.GetCurrentPowerState() != w.host.GetCurrentPowerState() ||
		cur.GetAmtStatus() != w.host.GetAmtStatus() || cur.GetCurrentAmtState() != w.host.GetCurrentAmtState() {
		w.record("stale status compare: have %q/%q, Inventory %q/%q", cur.GetPowerStatus(), cur.GetAmtStatus(),
			w.host.GetPowerStatus(), w.host.GetAmtStatus())
	}
}

func (w *world) GetDevice(_ context.Context, _ string) (store.Device, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dev == nil {
		return store.Device{}, store.ErrNotFound
	}
	return *w.dev, nil
}

func (w *world) SetDeviceHost(_ context.Context, tenant, _, hostResourceID string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dev == nil || w.dev.TenantID != tenant {
		return store.ErrNotFound
	}
	w.dev.HostResourceID = hostResourceID
	w.record("link device %s", hostResourceID)
	return nil
}

func (w *world) DeleteDevice(_ context.Context, _ string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dev = nil
	w.record("delete device")
	return nil
}

func (w *world) ListTenants(context.Context) ([]store.Tenant, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dev == nil {
		return nil, nil
	}
	return []store.Tenant{{ID: w.dev.TenantID}}, nil
}

func (w *world) ListDevicesByTenant(context.Context, string) ([]store.Device, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dev == nil {
		return nil, nil
	}
	return []store.Device{*w.dev}, nil
}

func (w *world) ListJournal(context.Context, string) ([]store.JournalEntry, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var es []store.JournalEntry
	for _, e := range w.journal {
		es = append(es, e)
	}
	return es, nil
}

func (w *world) PutJournal(_ context.Context, e store.JournalEntry) (store.JournalEntry, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if old, ok := w.journal[e.Kind]; ok {
		e.CreatedAt = old.CreatedAt
	} else {
		e.CreatedAt = time.Now()
	}
	w.journal[e.Kind] = e
	w.record("journal %s %s hard=%t", e.Kind, e.Step, e.HardActionSent)
	return e, nil
}

func (w *world) DeleteJournal(_ context.Context, _ string, kind store.OpKind) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.journal[kind]; ok {
		delete(w.journal, kind)
		w.record("journal %s deleted", kind)
	}
	return nil
}

func (w *world) ListDueJournal(_ context.Context, now time.Time) ([]store.JournalEntry, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var due []store.JournalEntry
	for _, e := range w.journal {
		if !e.DeadlineAt.IsZero() && !e.DeadlineAt.After(now) {
			due = append(due, e)
		}
	}
	return due, nil
}

func (w *world) GetPowerState(_ context.Context, _, _ string) (amt.PowerState, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.local {
		return 0, ErrNotSent
	}
	w.record("read %d", w.amt)
	return w.amt, nil
}

func (w *world) RequestPowerStateChange(_ context.Context, _, _ string, v amt.PowerState) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.record("send %d", v)
	if w.onSend != nil {
		w.onSend(v)
	}
	if err := w.sendErr; err != nil {
		w.sendErr = nil
		return err
	}
	switch v {
	case amt.PowerOffSoft, amt.PowerOffSoftGraceful:
		w.amt = amt.PowerOffSoft
	case amt.PowerOn, amt.PowerCycleOffSoft, amt.MasterBusReset:
		w.amt = amt.PowerOn
	}
	return nil
}

func (w *world) Unprovision(_ context.Context, _, _ string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.record("unprovision")
	w.local = false // a deactivated AMT drops CIRA
	return nil
}

func (w *world) Connected(_ string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.session, w.local
}

func (w *world) Delete(_ context.Context, path string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.record("delete secret %s", path)
	return nil
}
