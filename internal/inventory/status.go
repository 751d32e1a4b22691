package inventory

import (
	"context"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
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

// AMTReport is the current AMT state plus the AMT status triplet (timestamp set here).
type AMTReport struct {
	Current   computev1.AmtState
	Status    string
	Indicator statusv1.StatusIndication
}

// UpdatePowerStatus writes current_power_state and the power status triplet in one Update, unless Inventory
// already holds the same state, text and indicator (and on-time); then it writes nothing.
func (c *Client) UpdatePowerStatus(ctx context.Context, tenant, resourceID string, r PowerReport) error {
	return c.updateHost(ctx, tenant, resourceID, func(cur *computev1.HostResource) (*computev1.HostResource, []string) {
		if cur.GetCurrentPowerState() == r.Current && cur.GetPowerStatus() == r.Status &&
			cur.GetPowerStatusIndicator() == r.Indicator && (r.OnTime == nil || cur.GetPowerOnTime() == *r.OnTime) {
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
	})
}

// UpdateAMTStatus writes current_amt_state and the AMT status triplet in one Update, unless Inventory already
// holds the same state, text and indicator.
func (c *Client) UpdateAMTStatus(ctx context.Context, tenant, resourceID string, r AMTReport) error {
	return c.updateHost(ctx, tenant, resourceID, func(cur *computev1.HostResource) (*computev1.HostResource, []string) {
		if cur.GetCurrentAmtState() == r.Current && cur.GetAmtStatus() == r.Status && cur.GetAmtStatusIndicator() == r.Indicator {
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
	})
}

// UpdateAMTStatusText writes only the AMT status triplet, leaving current_amt_state to the host reconciler (the
// southbound server records what the agent reports this way).
func (c *Client) UpdateAMTStatusText(ctx context.Context, tenant, resourceID, text string, ind statusv1.StatusIndication) error {
	return c.updateHost(ctx, tenant, resourceID, func(cur *computev1.HostResource) (*computev1.HostResource, []string) {
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
}

// SetAmtSku writes amt_sku unless Inventory already holds it.
func (c *Client) SetAmtSku(ctx context.Context, tenant, resourceID string, sku computev1.AmtSku) error {
	return c.updateHost(ctx, tenant, resourceID, func(cur *computev1.HostResource) (*computev1.HostResource, []string) {
		if cur.GetAmtSku() == sku {
			return nil, nil
		}
		return &computev1.HostResource{AmtSku: sku}, []string{computev1.HostResourceFieldAmtSku}
	})
}

// change returns the fresh HostResource to send and its mask paths, or nil when nothing differs from cur.
type change func(cur *computev1.HostResource) (*computev1.HostResource, []string)

// updateHost reads the host, asks change what differs and sends only that: a fresh HostResource holding nothing but
// RM-writable fields, because Inventory's policy looks at the message, not the mask (emf-conventions §1.4).
// Transient errors are retried with backoff; NotFound, PermissionDenied, InvalidArgument and the like are not.
func (c *Client) updateHost(ctx context.Context, tenant, resourceID string, diff change) error {
	op := func() error {
		cur, err := c.GetHost(ctx, tenant, resourceID)
		if err != nil {
			return permanentUnlessTransient(err)
		}
		h, paths := diff(cur)
		if h == nil {
			c.skipped.Add(1)
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
		return nil
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	b.MaxInterval = 2 * time.Second
	b.MaxElapsedTime = c.cfg.WriteRetryTime
	return backoff.Retry(op, backoff.WithContext(b, ctx))
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
