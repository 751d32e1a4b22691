package app

import (
	"context"
	"strings"
	"sync"
	"time"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	statusv1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/status/v1"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/internal/api"
	"github.com/dmrm/dm-manager/internal/devices"
	"github.com/dmrm/dm-manager/internal/events"
	"github.com/dmrm/dm-manager/internal/inventory"
	"github.com/dmrm/dm-manager/internal/metrics"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/reconcilers/host"
)

// Observers at the boundaries of the host reconciler and the REST API: they count and publish what passes
// through, and change nothing of it.
var (
	_ host.HostSource   = (*desiredHosts)(nil)
	_ host.StatusWriter = countedStatus{}
	_ host.PowerControl = observedPower{}
	_ api.DomainStore   = domainEvents{}
)

// desiredHosts remembers the desired power state of each host the reconciler reads, so a power event can say
// what the action is for. One entry per host; a host read again overwrites it.
type desiredHosts struct {
	host.HostSource
	mu      sync.Mutex
	desired map[string]string // by lower-case UUID
}

func newDesiredHosts(src host.HostSource) *desiredHosts {
	return &desiredHosts{HostSource: src, desired: map[string]string{}}
}

func (d *desiredHosts) GetHost(ctx context.Context, tenant, resourceID string) (*computev1.HostResource, error) {
	h, err := d.HostSource.GetHost(ctx, tenant, resourceID)
	d.note(h, err)
	return h, err
}

func (d *desiredHosts) GetHostByUUID(ctx context.Context, tenant, uuid string) (*computev1.HostResource, error) {
	h, err := d.HostSource.GetHostByUUID(ctx, tenant, uuid)
	d.note(h, err)
	return h, err
}

func (d *desiredHosts) note(h *computev1.HostResource, err error) {
	if err != nil || h.GetUuid() == "" {
		return
	}
	d.mu.Lock()
	d.desired[strings.ToLower(h.GetUuid())] = h.GetDesiredPowerState().String()
	d.mu.Unlock()
}

func (d *desiredHosts) of(guid string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.desired[strings.ToLower(guid)]
}

// countedStatus counts the host reconciler's status writes by field and result, and publishes a power request
// the reconciler gives up on (an error power status newly written: blocked, or AMT's refusal) as power_failed.
type countedStatus struct {
	host.StatusWriter
	sink events.Sink
}

func (c countedStatus) UpdateStatusOf(ctx context.Context, tenant string, cur *computev1.HostResource,
	r inventory.StatusReport,
) (*computev1.HostResource, error) {
	out, err := c.StatusWriter.UpdateStatusOf(ctx, tenant, cur, r)
	if r.AMT != nil {
		metrics.CountInventoryWrite("amt_status", writeResult(err, r.AMT.Differs(cur)))
	}
	if r.Power != nil {
		res := writeResult(err, r.Power.Differs(cur))
		metrics.CountInventoryWrite("power_status", res)
		if res == "written" && r.Power.Indicator == statusv1.StatusIndication_STATUS_INDICATION_ERROR {
			c.sink.Emit(events.Event{Kind: events.PowerFailed, Tenant: tenant, GUID: cur.GetUuid(),
				Desired: cur.GetDesiredPowerState().String(), Outcome: events.OutcomeError, Message: r.Power.Status,
				Source: "reconciler"})
		}
	}
	return out, err
}

// writeResult: the writer leaves out a report Inventory already holds.
func writeResult(err error, differs bool) string {
	switch {
	case err != nil:
		return "error"
	case !differs:
		return "unchanged"
	}
	return "written"
}

// observedPower publishes and counts the host reconciler's AMT power actions and deactivations.
type observedPower struct {
	host.PowerControl
	sink    events.Sink
	desired *desiredHosts
}

func (p observedPower) RequestPowerStateChange(ctx context.Context, tenant, guid string, state amt.PowerState) error {
	action, soft := powerAction(state)
	ev := events.Event{Tenant: tenant, GUID: guid, Desired: p.desired.of(guid), AMTValue: int(state),
		Action: "hard", Source: "reconciler"}
	if soft {
		ev.Action = "soft"
	}
	req := ev
	req.Kind = events.PowerRequested
	p.sink.Emit(req)
	start := time.Now()
	err := p.PowerControl.RequestPowerStateChange(ctx, tenant, guid, state)
	ev.Duration, ev.Outcome, ev.Message = time.Since(start), powerOutcome(err), errMessage(err)
	ev.Kind = events.PowerDone
	if err != nil {
		ev.Kind = events.PowerFailed
	}
	metrics.CountPowerAction(action, ev.Outcome)
	p.sink.Emit(ev)
	return err
}

func (p observedPower) Unprovision(ctx context.Context, tenant, guid string) error {
	start := time.Now()
	p.sink.Emit(events.Event{Kind: events.DeactivationStarted, Tenant: tenant, GUID: guid, Source: "reconciler"})
	err := p.PowerControl.Unprovision(ctx, tenant, guid)
	ev := events.Event{Kind: events.Deactivated, Tenant: tenant, GUID: guid, Duration: time.Since(start),
		Outcome: powerOutcome(err), Message: errMessage(err), Source: "reconciler"}
	if err != nil {
		ev.Kind = events.DeactivationFailed
	}
	p.sink.Emit(ev)
	return err
}

func powerOutcome(err error) string {
	return errOutcome(err, func(err error) bool { return host.Classify(err).Kind == host.NotSent },
		func(err error) bool { return wsman.WrittenOf(err) == wsman.PossiblyWritten && devices.NoSession(err) })
}

// powerAction names an AMT power state for the action label and tells the graceful (OS-assisted) ones.
func powerAction(s amt.PowerState) (action string, soft bool) {
	switch s {
	case amt.PowerOn:
		return "on", false
	case amt.PowerOffSoft, amt.PowerOffHard:
		return "off", false
	case amt.PowerOffSoftGraceful, amt.PowerOffHardGraceful:
		return "graceful_off", true
	case amt.MasterBusReset:
		return "reset", false
	case amt.MasterBusResetGraceful:
		return "graceful_reset", true
	case amt.PowerCycleOffSoft, amt.PowerCycleOffHard:
		return "power_cycle", false
	case amt.SleepDeep, amt.SleepLight:
		return "sleep", true
	case amt.Hibernate:
		return "hibernate", true
	}
	return "other", false
}

// domainEvents publishes domain certificate uploads, replacements and deletions done through the REST API.
type domainEvents struct {
	api.DomainStore
	sink events.Sink
}

func (d domainEvents) CreateDomain(ctx context.Context, dom store.Domain, writeSecret func(context.Context) error,
) (store.Domain, error) {
	out, err := d.DomainStore.CreateDomain(ctx, dom, writeSecret)
	if err == nil {
		d.sink.Emit(events.Event{Kind: events.DomainAdded, Tenant: out.TenantID, Domain: out.DomainSuffix,
			Message: "domain profile " + out.ProfileName + " added", Source: "api"})
	}
	return out, err
}

func (d domainEvents) UpdateDomain(ctx context.Context, dom store.Domain, version time.Time,
	writeSecret func(context.Context) error,
) (store.Domain, error) {
	out, err := d.DomainStore.UpdateDomain(ctx, dom, version, writeSecret)
	if err == nil {
		d.sink.Emit(events.Event{Kind: events.DomainAdded, Tenant: out.TenantID, Domain: out.DomainSuffix,
			Message: "domain profile " + out.ProfileName + " replaced", Source: "api"})
	}
	return out, err
}

func (d domainEvents) RemoveDomain(ctx context.Context, tenantID, profileName string,
	deleteSecret func(context.Context) error,
) error {
	old, _ := d.GetDomain(ctx, tenantID, profileName) // only for the suffix in the event
	err := d.DomainStore.RemoveDomain(ctx, tenantID, profileName, deleteSecret)
	if err == nil {
		d.sink.Emit(events.Event{Kind: events.DomainRemoved, Tenant: tenantID, Domain: old.DomainSuffix,
			Message: "domain profile " + profileName + " removed", Source: "api"})
	}
	return err
}
