package inventory

import (
	"context"
	"time"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	inv_v1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/inventory/v1"
	"github.com/open-edge-platform/infra-core/inventory/v2/pkg/client"
)

// HostID names a host for reconciliation. UUID is the device GUID; ResourceID is Inventory's "host-xxxxxxxx".
type HostID struct {
	Tenant     string
	UUID       string
	ResourceID string
}

func (id HostID) String() string { return id.Tenant + "/" + id.UUID }

// TenantID names a tenant (project UUID) for reconciliation.
type TenantID struct {
	Tenant string
}

func (id TenantID) String() string { return id.Tenant }

// Cause says why a request was made. Reconcilers are level-triggered and re-read Inventory; the cause is for logs
// and for telling a hard-deleted resource (Deleted: the read will say NotFound) from a transient miss.
type Cause int

const (
	Resync Cause = iota
	Created
	Updated
	Deleted
)

func (c Cause) String() string {
	switch c {
	case Created:
		return "created"
	case Updated:
		return "updated"
	case Deleted:
		return "deleted"
	default:
		return "resync"
	}
}

// Handlers receive reconcile requests. They are called from the pump goroutine and must not block (enqueue into a
// controller and return); a nil handler drops its kind.
type Handlers struct {
	Host   func(HostID, Cause)
	Tenant func(TenantID, Cause)
}

// Run pumps events and runs a full resync at start and every ResyncPeriod until ctx ends (returns nil), Close is
// called (returns nil) or Inventory closes the stream (returns ErrStreamClosed: the caller exits non-zero).
// The events channel is always drained, so Inventory's client does not drop events while a resync lists: listing
// runs on its own goroutine, and handlers are only ever called from Run's goroutine.
func (c *Client) Run(ctx context.Context, h Handlers) error {
	resyncs := make(chan []request, 1)
	done := make(chan struct{})
	defer close(done)
	go c.resyncLoop(ctx, resyncs, done)

	for {
		select {
		case <-ctx.Done():
			return nil
		case batch := <-resyncs:
			for _, r := range batch {
				r.deliver(h)
			}
		case ev, ok := <-c.events:
			if !ok {
				if c.closing.Load() {
					return nil
				}
				c.log.Error().Msg("gRPC stream with Inventory closed")
				return ErrStreamClosed
			}
			if r, ok := fromEvent(ev); ok {
				r.deliver(h)
			}
		}
	}
}

// Resync lists every DM-relevant host and every tenant and delivers them as Resync requests. Run calls it
// periodically; it is exported for callers that need one pass on demand (tests, admin endpoints).
func (c *Client) Resync(ctx context.Context, h Handlers) error {
	batch, err := c.resyncBatch(ctx)
	for _, r := range batch {
		r.deliver(h)
	}
	return err
}

func (c *Client) resyncLoop(ctx context.Context, out chan<- []request, done <-chan struct{}) {
	t := time.NewTicker(c.cfg.ResyncPeriod)
	defer t.Stop()
	for {
		batch, err := c.resyncBatch(ctx)
		if err != nil {
			c.log.Warn().Err(err).Int("partial", len(batch)).Msg("resync listing failed; partial results delivered")
		} else {
			c.log.Debug().Int("requests", len(batch)).Msg("resync listed")
		}
		select {
		case out <- batch:
		case <-done:
			return
		case <-ctx.Done():
			return
		}
		select {
		case <-t.C:
		case <-done:
			return
		case <-ctx.Done():
			return
		}
	}
}

// resyncBatch returns requests for all listed hosts and tenants; ListAll returns partial results on a mid-way
// error, and those are still worth reconciling.
func (c *Client) resyncBatch(ctx context.Context) ([]request, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ResyncPeriod)
	defer cancel()
	tenants, terr := c.ListTenants(ctx)
	hosts, herr := c.ListHosts(ctx)
	batch := make([]request, 0, len(tenants)+len(hosts))
	for _, t := range tenants {
		batch = append(batch, request{tenant: &TenantID{Tenant: t.GetTenantId()}, cause: Resync})
	}
	for _, hst := range hosts {
		id := hostID(hst)
		batch = append(batch, request{host: &id, cause: Resync})
	}
	if terr != nil {
		return batch, terr
	}
	return batch, herr
}

type request struct {
	host   *HostID
	tenant *TenantID
	cause  Cause
}

func (r request) deliver(h Handlers) {
	switch {
	case r.host != nil && h.Host != nil:
		h.Host(*r.host, r.cause)
	case r.tenant != nil && h.Tenant != nil:
		h.Tenant(*r.tenant, r.cause)
	}
}

func fromEvent(ev *client.WatchEvents) (request, bool) {
	var cause Cause
	switch ev.Event.GetEventKind() {
	case inv_v1.SubscribeEventsResponse_EVENT_KIND_CREATED:
		cause = Created
	case inv_v1.SubscribeEventsResponse_EVENT_KIND_UPDATED:
		cause = Updated
	case inv_v1.SubscribeEventsResponse_EVENT_KIND_DELETED:
		cause = Deleted
	default:
		return request{}, false
	}
	res := ev.Event.GetResource()
	switch {
	case res.GetHost() != nil:
		id := hostID(res.GetHost())
		return request{host: &id, cause: cause}, id.Tenant != "" && id.UUID != ""
	case res.GetTenant() != nil:
		return request{tenant: &TenantID{Tenant: res.GetTenant().GetTenantId()}, cause: cause},
			res.GetTenant().GetTenantId() != ""
	default:
		return request{}, false
	}
}

func hostID(h *computev1.HostResource) HostID {
	return HostID{Tenant: h.GetTenantId(), UUID: h.GetUuid(), ResourceID: h.GetResourceId()}
}
