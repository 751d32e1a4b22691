package inventory

import (
	"context"
	"fmt"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	inv_v1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/inventory/v1"
	tenantv1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/tenant/v1"
	inv_errors "github.com/open-edge-platform/infra-core/inventory/v2/pkg/errors"
	"github.com/open-edge-platform/infra-core/inventory/v2/pkg/util/filters"
)

// dmHostFilter selects hosts dm-manager has something to do with: vPro intent or state on either side, or a
// reported AMT/ISM SKU. Hosts outside it are invisible to the resync (events still reach the reconciler).
// Enum values go unquoted into the filter (the Go value prints its name).
var dmHostFilter = filters.NewBuilderWith(
	filters.ValNotEq(computev1.HostResourceFieldDesiredAmtState, computev1.AmtState_AMT_STATE_UNSPECIFIED)).
	Or(filters.ValNotEq(computev1.HostResourceFieldCurrentAmtState, computev1.AmtState_AMT_STATE_UNSPECIFIED)).
	Or(filters.ValNotEq(computev1.HostResourceFieldAmtSku, computev1.AmtSku_AMT_SKU_UNSPECIFIED)).
	Build()

// GetHostByUUID returns the tenant's host with the given UUID; ErrNotFound if there is none. It lists with the
// filter itself instead of calling the Inventory client's GetHostByUUID, which logs every miss at error level: a
// miss is an ordinary answer here (an agent or rpc-go naming a host that is not registered), logged by the caller
// as it deserves.
func (c *Client) GetHostByUUID(ctx context.Context, tenant, uuid string) (*computev1.HostResource, error) {
	resp, err := c.inv.List(ctx, &inv_v1.ResourceFilter{
		Resource: &inv_v1.Resource{Resource: &inv_v1.Resource_Host{}},
		Filter: filters.NewBuilder().And(filters.ValEq(computev1.HostResourceFieldUuid, uuid)).
			And(filters.ValEq(computev1.HostResourceFieldTenantId, tenant)).Build(),
		Limit: 1,
	})
	if err != nil {
		return nil, readErr(err, "host with UUID "+uuid, tenant)
	}
	if len(resp.GetResources()) == 0 || resp.GetResources()[0].GetResource().GetHost() == nil {
		return nil, fmt.Errorf("%w: host with UUID %s in tenant %s", ErrNotFound, uuid, tenant)
	}
	return resp.GetResources()[0].GetResource().GetHost(), nil
}

// GetHost returns the tenant's host with the given resource ID; ErrNotFound if there is none.
func (c *Client) GetHost(ctx context.Context, tenant, resourceID string) (*computev1.HostResource, error) {
	resp, err := c.inv.Get(ctx, tenant, resourceID)
	if err != nil {
		return nil, readErr(err, "host "+resourceID, tenant)
	}
	h := resp.GetResource().GetHost()
	if h == nil {
		return nil, fmt.Errorf("%w: %s in tenant %s is not a host", ErrNotFound, resourceID, tenant)
	}
	return h, nil
}

// ListHosts lists the DM-relevant hosts of all tenants (see dmHostFilter). On a mid-way error it returns what it
// got along with the error.
func (c *Client) ListHosts(ctx context.Context) ([]*computev1.HostResource, error) {
	res, err := c.inv.ListAll(ctx, &inv_v1.ResourceFilter{
		Resource: &inv_v1.Resource{Resource: &inv_v1.Resource_Host{}},
		Filter:   dmHostFilter,
	})
	hosts := make([]*computev1.HostResource, 0, len(res))
	for _, r := range res {
		if h := r.GetHost(); h != nil {
			hosts = append(hosts, h)
		}
	}
	if err != nil {
		return hosts, fmt.Errorf("inventory: list hosts: %w", err)
	}
	return hosts, nil
}

// GetTenant returns the tenant with the given project UUID; ErrNotFound if there is none.
func (c *Client) GetTenant(ctx context.Context, tenant string) (*tenantv1.Tenant, error) {
	resp, err := c.inv.List(ctx, &inv_v1.ResourceFilter{
		Resource: &inv_v1.Resource{Resource: &inv_v1.Resource_Tenant{}},
		Filter:   filters.NewBuilder().And(filters.ValEq(tenantv1.TenantFieldTenantId, tenant)).Build(),
		Limit:    1,
	})
	if err != nil {
		return nil, readErr(err, "tenant", tenant)
	}
	if len(resp.GetResources()) == 0 {
		return nil, fmt.Errorf("%w: tenant %s", ErrNotFound, tenant)
	}
	return resp.GetResources()[0].GetResource().GetTenant(), nil
}

// ListTenants lists all tenants. On a mid-way error it returns what it got along with the error.
func (c *Client) ListTenants(ctx context.Context) ([]*tenantv1.Tenant, error) {
	res, err := c.inv.ListAll(ctx, &inv_v1.ResourceFilter{
		Resource: &inv_v1.Resource{Resource: &inv_v1.Resource_Tenant{}},
	})
	tenants := make([]*tenantv1.Tenant, 0, len(res))
	for _, r := range res {
		if t := r.GetTenant(); t != nil {
			tenants = append(tenants, t)
		}
	}
	if err != nil {
		return tenants, fmt.Errorf("inventory: list tenants: %w", err)
	}
	return tenants, nil
}

// readErr turns Inventory's NotFound into ErrNotFound and adds context to everything else (the gRPC status stays
// reachable through errors.As for callers that map codes).
func readErr(err error, what, tenant string) error {
	if inv_errors.IsNotFound(err) {
		return fmt.Errorf("%w: %s in tenant %s", ErrNotFound, what, tenant)
	}
	return fmt.Errorf("inventory: get %s in tenant %s: %w", what, tenant, err)
}
