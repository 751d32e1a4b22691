package inventory

import (
	"context"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	inv_v1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/inventory/v1"
	statusv1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/status/v1"
	inv_util "github.com/open-edge-platform/infra-core/inventory/v2/pkg/util"
)

// PowerReport is what the host reconciler knows about a host's power: the current state and the power status
// triplet (status text and indicator; the timestamp is set here). OnTime, when non-nil, also writes power_on_time.
type PowerReport struct {
	Current   computev1.PowerState
	Status    string
	Indicator statusv1.StatusIndication
	OnTime    *uint64
}

// Differs reports whether h holds something else than r: a write is due.
func (r PowerReport) Differs(h *computev1.HostResource) bool {
	return h.GetCurrentPowerState() != r.Current || h.GetPowerStatus() != r.Status ||
		h.GetPowerStatusIndicator() != r.Indicator || r.OnTime != nil && h.GetPowerOnTime() != *r.OnTime
}

// AMTReport is the current AMT state plus the AMT status triplet (timestamp set here).
type AMTReport struct {
	Current   computev1.AmtState
	Status    string
	Indicator statusv1.StatusIndication
}

// Differs reports whether h holds something else than r: a write is due.
func (r AMTReport) Differs(h *computev1.HostResource) bool {
	return h.GetCurrentAmtState() != r.Current || h.GetAmtStatus() != r.Status || h.GetAmtStatusIndicator() != r.Indicator
}

// StatusReport is what the host reconciler writes to a host in one step: its AMT and its power report, either
// one absent.
type StatusReport struct {
	AMT   *AMTReport
	Power *PowerReport
}

// UpdateStatusOf writes current_amt_state with the AMT status triplet and current_power_state with the power status
// triplet (and on-time) in a single Update (one write and one event for Inventory's watchers where a connect changes
// both), leaving out a report cur (the host as the caller, the host reconciler, just read it) already holds; cur is
// compared with instead of a fresh read, and nothing is written when it holds both. It returns the host with what
// was written applied (cur itself when nothing was), the cur of the caller's next write.
func (c *Client) UpdateStatusOf(ctx context.Context, tenant string, cur *computev1.HostResource, r StatusReport,
) (*computev1.HostResource, error) {
	var parts []change
	if r.AMT != nil {
		parts = append(parts, amtChange(*r.AMT))
	}
	if r.Power != nil {
		parts = append(parts, powerChange(*r.Power))
	}
	return c.updateHost(ctx, tenant, cur.GetResourceId(), cur, all(parts...))
}

// all is one change made of several, each over its own fields.
func all(parts ...change) change {
	return func(cur *computev1.HostResource) (*computev1.HostResource, []string) {
		var out *computev1.HostResource
		var paths []string
		for _, part := range parts {
			h, p := part(cur)
			if h == nil {
				continue
			}
			if out == nil {
				out = &computev1.HostResource{}
			}
			out = withFields(out, h, p)
			paths = append(paths, p...)
		}
		return out, paths
	}
}

func powerChange(r PowerReport) change {
	return func(cur *computev1.HostResource) (*computev1.HostResource, []string) {
		if !r.Differs(cur) {
			return nil, nil
		}
		h := &computev1.HostResource{
			CurrentPowerState:    r.Current,
			PowerStatus:          r.Status,
			PowerStatusIndicator: r.Indicator,
			PowerStatusTimestamp: now(),
		}
		paths := []string{
			computev1.HostResourceFieldCurrentPowerState,
			computev1.HostResourceFieldPowerStatus,
			computev1.HostResourceFieldPowerStatusIndicator,
			computev1.HostResourceFieldPowerStatusTimestamp,
		}
		if r.OnTime != nil {
			h.PowerOnTime = *r.OnTime
			paths = append(paths, computev1.HostResourceFieldPowerOnTime)
		}
		return h, paths
	}
}

func amtChange(r AMTReport) change {
	return func(cur *computev1.HostResource) (*computev1.HostResource, []string) {
		if !r.Differs(cur) {
			return nil, nil
		}
		return &computev1.HostResource{
				CurrentAmtState:    r.Current,
				AmtStatus:          r.Status,
				AmtStatusIndicator: r.Indicator,
				AmtStatusTimestamp: now(),
			}, []string{
				computev1.HostResourceFieldCurrentAmtState,
				computev1.HostResourceFieldAmtStatus,
				computev1.HostResourceFieldAmtStatusIndicator,
				computev1.HostResourceFieldAmtStatusTimestamp,
			}
	}
}

// UpdateAMTStatusText writes only the AMT status triplet, leaving current_amt_state to the host reconciler (the
// southbound server records what the agent reports this way).
func (c *Client) UpdateAMTStatusText(ctx context.Context, tenant, resourceID, text string, ind statusv1.StatusIndication) error {
	_, err := c.updateHost(ctx, tenant, resourceID, nil, func(cur *computev1.HostResource) (*computev1.HostResource, []string) {
		if cur.GetAmtStatus() == text && cur.GetAmtStatusIndicator() == ind {
			return nil, nil
		}
		return &computev1.HostResource{AmtStatus: text, AmtStatusIndicator: ind, AmtStatusTimestamp: now()},
			[]string{
				computev1.HostResourceFieldAmtStatus,
				computev1.HostResourceFieldAmtStatusIndicator,
				computev1.HostResourceFieldAmtStatusTimestamp,
			}
	})
	return err
}

// SetAmtSku writes amt_sku unless Inventory already holds it.
func (c *Client) SetAmtSku(ctx context.Context, tenant, resourceID string, sku computev1.AmtSku) error {
	_, err := c.updateHost(ctx, tenant, resourceID, nil, func(cur *computev1.HostResource) (*computev1.HostResource, []string) {
		if cur.GetAmtSku() == sku {
			return nil, nil
		}
		return &computev1.HostResource{AmtSku: sku}, []string{computev1.HostResourceFieldAmtSku}
	})
	return err
}

// change returns the fresh HostResource to send and its mask paths, or nil when nothing differs from cur.
type change func(cur *computev1.HostResource) (*computev1.HostResource, []string)

// updateHost compares the host with what diff wants and sends only what differs: a fresh HostResource holding
// nothing but RM-writable fields, because Inventory's policy looks at the message, not the mask
// (emf-conventions §1.4). The host compared with is known (the caller's copy, when it has just read it) or read
// here. A stale known copy costs no correctness: the host reconciler handles a host one reconcile at a time, and
// any other write to the host (the southbound's AMT status text, a user) brings an UPDATED event, hence a
// reconcile that reads it afresh; meanwhile a due write may wait for that reconcile or a no-op one be sent.
// A retry always re-reads, since a failed Update may have landed.
// Transient errors are retried with backoff; NotFound, PermissionDenied, InvalidArgument and the like are not.
// It returns the host as it now stands in Inventory: the one compared with, plus the fields written.
func (c *Client) updateHost(ctx context.Context, tenant, resourceID string, known *computev1.HostResource, diff change,
) (*computev1.HostResource, error) {
	var out *computev1.HostResource
	op := func() error {
		cur := known
		known = nil
		if cur == nil {
			var err error
			if cur, err = c.GetHost(ctx, tenant, resourceID); err != nil {
				return permanentUnlessTransient(err)
			}
		}
		h, paths := diff(cur)
		if h == nil {
			c.skipped.Add(1)
			out = cur
			return nil
		}
		mask, err := fieldmaskpb.New(h, paths...)
		if err != nil {
			return backoff.Permanent(fmt.Errorf("inventory: field mask %v: %w", paths, err))
		}
		msg := proto.Clone(h)
		if err := inv_util.ValidateMaskAndFilterMessage(msg, mask, true); err != nil {
			return backoff.Permanent(fmt.Errorf("inventory: field mask %v: %w", paths, err))
		}
		c.writes.Add(1)
		_, err = c.inv.Update(ctx, tenant, resourceID, mask,
			&inv_v1.Resource{Resource: &inv_v1.Resource_Host{Host: msg.(*computev1.HostResource)}})
		if err != nil {
			return permanentUnlessTransient(fmt.Errorf("inventory: update host %s (%v) in tenant %s: %w",
				resourceID, paths, tenant, err))
		}
		out = withFields(cur, h, paths)
		return nil
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	b.MaxInterval = 2 * time.Second
	b.MaxElapsedTime = c.cfg.WriteRetryTime
	if err := backoff.Retry(op, backoff.WithContext(b, ctx)); err != nil {
		return nil, err
	}
	return out, nil
}

// withFields returns a copy of cur with the named top-level fields taken from src (zero values included, which a
// proto merge would skip).
func withFields(cur, src *computev1.HostResource, paths []string) *computev1.HostResource {
	out := proto.Clone(cur).(*computev1.HostResource)
	dst, from := out.ProtoReflect(), src.ProtoReflect()
	fields := dst.Descriptor().Fields()
	for _, p := range paths {
		fd := fields.ByName(protoreflect.Name(p))
		dst.Set(fd, from.Get(fd))
	}
	return out
}

// permanentUnlessTransient marks every error permanent except those a retry can fix: Inventory restarting or
// overloaded, a transaction conflict, a server-side deadline.
func permanentUnlessTransient(err error) error {
	switch status.Code(err) {
	case codes.Unavailable, codes.ResourceExhausted, codes.Aborted, codes.DeadlineExceeded:
		return err
	default:
		return backoff.Permanent(err)
	}
}

func now() uint64 { return uint64(time.Now().Unix()) } //nolint:gosec // Unix time is positive
