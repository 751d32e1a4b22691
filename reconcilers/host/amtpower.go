package host

import (
	"context"
	"fmt"

	"github.com/dmrm/dm-manager/dmtclient/amt"
)

// AMTPower implements PowerControl with dmtclient/amt clients: internal/app passes (*devices.AMTClients).For as
// Clients. Errors from Clients come before any request, so they are ErrNotSent; a request's own errors carry the
// wsman client's write outcome unchanged (wsman.WrittenOf), which Classify reads.
type AMTPower struct {
	Clients func(ctx context.Context, tenant, guid string) (*amt.Client, error)
}

// GetPowerState reads CIM_AssociatedPowerManagementService.PowerState.
func (p AMTPower) GetPowerState(ctx context.Context, tenant, guid string) (amt.PowerState, error) {
	c, err := p.client(ctx, tenant, guid)
	if err != nil {
		return 0, err
	}
	st, err := c.PowerState(ctx)
	return st.PowerState, err
}

// RequestPowerStateChange asks AMT for a power action.
func (p AMTPower) RequestPowerStateChange(ctx context.Context, tenant, guid string, state amt.PowerState) error {
	c, err := p.client(ctx, tenant, guid)
	if err != nil {
		return err
	}
	return c.RequestPowerStateChange(ctx, state)
}

// Unprovision deactivates AMT.
func (p AMTPower) Unprovision(ctx context.Context, tenant, guid string) error {
	c, err := p.client(ctx, tenant, guid)
	if err != nil {
		return err
	}
	return c.Unprovision(ctx)
}

func (p AMTPower) client(ctx context.Context, tenant, guid string) (*amt.Client, error) {
	c, err := p.Clients(ctx, tenant, guid)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	return c, nil
}
