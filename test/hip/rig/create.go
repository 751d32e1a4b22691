package rig

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	inv_v1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/inventory/v1"
	tenantv1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/tenant/v1"
	"github.com/open-edge-platform/infra-core/inventory/v2/pkg/util/filters"
)

// CreateTenant creates the rig's tenant as EMF's tenant controller does (the rig must be of kind
// CLIENT_KIND_TENANT_CONTROLLER): desired CREATED, then current CREATED, which the controller sets at once when OS
// provisioning is skipped (emf-conventions §1.6).
func (r *Rig) CreateTenant(ctx context.Context) (*tenantv1.Tenant, error) {
	res, err := r.Inv.Create(ctx, r.Tenant, &inv_v1.Resource{Resource: &inv_v1.Resource_Tenant{Tenant: &tenantv1.Tenant{
		TenantId: r.Tenant, DesiredState: tenantv1.TenantState_TENANT_STATE_CREATED,
	}}})
	if err != nil {
		return nil, fmt.Errorf("create tenant %s: %w", r.Tenant, err)
	}
	t := res.GetTenant()
	upd := &tenantv1.Tenant{CurrentState: tenantv1.TenantState_TENANT_STATE_CREATED}
	mask, err := fieldmaskpb.New(upd, tenantv1.TenantFieldCurrentState)
	if err != nil {
		return nil, err
	}
	if _, err := r.Inv.Update(ctx, r.Tenant, t.GetResourceId(), mask,
		&inv_v1.Resource{Resource: &inv_v1.Resource_Tenant{Tenant: upd}}); err != nil {
		return nil, fmt.Errorf("mark tenant %s created: %w", r.Tenant, err)
	}
	return t, nil
}

// NewHost is a host as onboarding registers it, with vPro enabled (desired AMT state PROVISIONED) and desired power
// ON under the ORDERED policy.
func NewHost(uuid, name string) *computev1.HostResource {
	return &computev1.HostResource{
		Name: name, Hostname: name, Uuid: uuid, SerialNumber: "DEMO" + uuid[:8],
		DesiredState:       computev1.HostState_HOST_STATE_ONBOARDED,
		DesiredPowerState:  computev1.PowerState_POWER_STATE_ON,
		PowerCommandPolicy: computev1.PowerCommandPolicy_POWER_COMMAND_POLICY_ORDERED,
		DesiredAmtState:    computev1.AmtState_AMT_STATE_PROVISIONED,
		BmcKind:            computev1.BaremetalControllerKind_BAREMETAL_CONTROLLER_KIND_VPRO,
	}
}

// CreateHost creates a host in the rig's tenant (the rig must be of kind CLIENT_KIND_API).
func (r *Rig) CreateHost(ctx context.Context, h *computev1.HostResource) (*computev1.HostResource, error) {
	h.TenantId = r.Tenant
	res, err := r.Inv.Create(ctx, r.Tenant, &inv_v1.Resource{Resource: &inv_v1.Resource_Host{Host: h}})
	if err != nil {
		return nil, fmt.Errorf("create host %s: %w", h.GetUuid(), err)
	}
	return res.GetHost(), nil
}

// Hosts lists every host of the rig's tenant.
func (r *Rig) Hosts(ctx context.Context) ([]*computev1.HostResource, error) {
	res, err := r.Inv.ListAll(ctx, &inv_v1.ResourceFilter{
		Resource: &inv_v1.Resource{Resource: &inv_v1.Resource_Host{}},
		Filter:   filters.NewBuilder().And(filters.ValEq(computev1.HostResourceFieldTenantId, r.Tenant)).Build(),
	})
	if err != nil {
		return nil, fmt.Errorf("list hosts of tenant %s: %w", r.Tenant, err)
	}
	out := make([]*computev1.HostResource, 0, len(res))
	for _, x := range res {
		out = append(out, x.GetHost())
	}
	return out, nil
}
