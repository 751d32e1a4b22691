package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	inv_v1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/inventory/v1"

	"github.com/dmrm/dm-manager/test/invtest"
)

// hostWatch follows every host through Inventory's event stream, as any other Inventory client would: the
// latest state of each host, the status texts it went through, and how many updates it got. Tests wait on it
// instead of polling Inventory.
type hostWatch struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	last    map[string]*computev1.HostResource
	power   map[string][]string  // power_status texts, consecutive duplicates dropped
	amt     map[string][]string  // amt_status texts, likewise
	updates map[string]int       // UPDATED events
	powerAt map[string]time.Time // arrival of the event that last changed current_power_state or power_status
	wake    chan struct{}
}

func newHostWatch(tb testing.TB) *hostWatch {
	tb.Helper()
	_, events := invtest.NewClient(tb, "e2e-watch-"+uuid.NewString()[:8], inv_v1.ClientKind_CLIENT_KIND_API,
		inv_v1.ResourceKind_RESOURCE_KIND_HOST)
	ctx, cancel := context.WithCancel(context.Background())
	w := &hostWatch{
		cancel: cancel, done: make(chan struct{}),
		last: map[string]*computev1.HostResource{}, power: map[string][]string{}, amt: map[string][]string{},
		updates: map[string]int{}, powerAt: map[string]time.Time{}, wake: make(chan struct{}),
	}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-events:
				if !ok {
					return
				}
				w.record(ev.Event)
			}
		}
	}()
	return w
}

func (w *hostWatch) close() {
	w.cancel()
	<-w.done
}

func (w *hostWatch) record(ev *inv_v1.SubscribeEventsResponse) {
	h := ev.GetResource().GetHost()
	if h == nil {
		return
	}
	id := h.GetResourceId()
	w.mu.Lock()
	defer w.mu.Unlock()
	if ev.GetEventKind() == inv_v1.SubscribeEventsResponse_EVENT_KIND_UPDATED {
		w.updates[id]++
	}
	if prev := w.last[id]; prev == nil || prev.GetCurrentPowerState() != h.GetCurrentPowerState() ||
		prev.GetPowerStatus() != h.GetPowerStatus() {
		w.powerAt[id] = time.Now()
	}
	w.last[id] = h
	appendNew := func(m map[string][]string, s string) {
		if l := m[id]; len(l) == 0 || l[len(l)-1] != s {
			m[id] = append(l, s)
		}
	}
	appendNew(w.power, h.GetPowerStatus())
	appendNew(w.amt, h.GetAmtStatus())
	close(w.wake)
	w.wake = make(chan struct{})
}

func (w *hostWatch) latest(id string) (*computev1.HostResource, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last[id], w.wake
}

// powerTexts and amtTexts are the status texts a host went through.
func (w *hostWatch) powerTexts(id string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.power[id])
}

func (w *hostWatch) amtTexts(id string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.amt[id])
}

// waitHost waits until Inventory's host satisfies cond and returns it.
func (w *hostWatch) waitHost(tb testing.TB, id, what string, cond func(*computev1.HostResource) bool) *computev1.HostResource {
	tb.Helper()
	deadline := time.NewTimer(waitLong)
	defer deadline.Stop()
	for {
		h, changed := w.latest(id)
		if h != nil && cond(h) {
			return h
		}
		select {
		case <-changed:
		case <-deadline.C:
			tb.Fatalf("host %s: %s not reached within %s; now %s; power texts %q; AMT texts %q", id, what, waitLong,
				describe(h), w.powerTexts(id), w.amtTexts(id))
		}
	}
}

// waitAll waits until every host in ids satisfies a condition on its power fields (within benchDeadline) and
// returns, in the order of ids, when the event that made each one satisfy it arrived.
func (w *hostWatch) waitAll(tb testing.TB, ids []string, what string, cond func(*computev1.HostResource) bool) []time.Time {
	tb.Helper()
	deadline := time.NewTimer(benchDeadline)
	defer deadline.Stop()
	reached := make([]time.Time, len(ids))
	for {
		w.mu.Lock()
		missing, example := 0, ""
		for i, id := range ids {
			switch h := w.last[id]; {
			case !reached[i].IsZero():
			case h != nil && cond(h):
				reached[i] = w.powerAt[id]
			default:
				if missing == 0 {
					example = id + ": " + describe(h)
				}
				missing++
			}
		}
		changed := w.wake
		w.mu.Unlock()
		if missing == 0 {
			return reached
		}
		select {
		case <-changed:
		case <-deadline.C:
			tb.Fatalf("%s: %d of %d hosts not there within %s; e.g. %s", what, missing, len(ids), benchDeadline, example)
		}
	}
}

// updateCounts returns the UPDATED events seen so far for each host in ids.
func (w *hostWatch) updateCounts(ids []string) []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = w.updates[id]
	}
	return out
}

func describe(h *computev1.HostResource) string {
	if h == nil {
		return "no event seen"
	}
	return fmt.Sprintf("power desired %s current %s %q (%s), AMT desired %s current %s %q (%s)",
		h.GetDesiredPowerState(), h.GetCurrentPowerState(), h.GetPowerStatus(), h.GetPowerStatusIndicator(),
		h.GetDesiredAmtState(), h.GetCurrentAmtState(), h.GetAmtStatus(), h.GetAmtStatusIndicator())
}

// Conditions on a host.

func powerIs(s computev1.PowerState, status string) func(*computev1.HostResource) bool {
	return func(h *computev1.HostResource) bool {
		return h.GetCurrentPowerState() == s && (status == "" || h.GetPowerStatus() == status)
	}
}

func amtIs(s computev1.AmtState, status string) func(*computev1.HostResource) bool {
	return func(h *computev1.HostResource) bool {
		return h.GetCurrentAmtState() == s && (status == "" || h.GetAmtStatus() == status)
	}
}

// createHost registers a host for guid as the northbound API does (desired power ON unless opts change it).
func (d *dm) createHost(tb testing.TB, tenant, guid string, opts ...func(*computev1.HostResource)) *computev1.HostResource {
	tb.Helper()
	h := invtest.DAO(tb).CreateHostWithOpts(tb, tenant, false, func(h *computev1.HostResource) {
		h.Uuid = guid
		h.Name = "e2e-" + guid[:8]
		h.Hostname = "e2e-" + guid[:8]
		h.SerialNumber = guid[:8]
		for _, o := range opts {
			o(h)
		}
	})
	d.track(tenant, h.GetResourceId())
	return h
}

// setHost changes the named intent fields of a host as an EIM user does through the northbound API.
func setHost(tb testing.TB, tenant, id string, h *computev1.HostResource, paths ...string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := invtest.APIClient(tb).Update(ctx, tenant, id, &fieldmaskpb.FieldMask{Paths: paths},
		&inv_v1.Resource{Resource: &inv_v1.Resource_Host{Host: h}})
	require.NoError(tb, err, "updating host %s %v", id, paths)
}

func setDesiredPower(tb testing.TB, tenant, id string, s computev1.PowerState) {
	tb.Helper()
	setHost(tb, tenant, id, &computev1.HostResource{DesiredPowerState: s}, computev1.HostResourceFieldDesiredPowerState)
}

func setDesiredAMT(tb testing.TB, tenant, id string, s computev1.AmtState) {
	tb.Helper()
	setHost(tb, tenant, id, &computev1.HostResource{DesiredAmtState: s}, computev1.HostResourceFieldDesiredAmtState)
}
