package host

import (
	"context"
	"fmt"

	"github.com/dmrm/dm-manager/dmtclient/amt"
)

// AMTPower implements PowerControl with dmtclient/amt clients: internal/app passes (*devices.AMTClients).For as
// Clients and, as NotSent, a test for the "no CIRA session here" error the clients' dialer returns
// (errors.Is(err, devices.ErrNotConnected)). Errors from Clients come before any request, so they are NotSent too.
type AMTPower struct {
	Clients func(ctx context.Context, tenant, guid string) (*amt.Client, error)
	NotSent func(error) bool // optional
}

// GetPowerState reads CIM_AssociatedPowerManagementService.PowerState.
func (p AMTPower) GetPowerState(ctx context.Context, tenant, guid string) (amt.PowerState, error) {
	c, err := p.client(ctx, tenant, guid)
	if err != nil {
		return 0, err
	}
	st, err := c.PowerState(ctx)
	return st.PowerState, p.mark(err)
}

// RequestPowerStateChange asks AMT for a power action.
func (p AMTPower) RequestPowerStateChange(ctx context.Context, tenant, guid string, state amt.PowerState) error {
	c, err := p.client(ctx, tenant, guid)
	if err != nil {
		return err
	}
	return p.mark(c.RequestPowerStateChange(ctx, state))
}

// Unprovision deactivates AMT.
func (p AMTPower) Unprovision(ctx context.Context, tenant, guid string) error {
	c, err := p.client(ctx, tenant, guid)
	if err != nil {
		return err
	}
	return p.mark(c.Unprovision(ctx))
}

func (p AMTPower) client(ctx context.Context, tenant, guid string) (*amt.Client, error) {
	c, err := p.Clients(ctx, tenant, guid)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	return c, nil
}

func (p AMTPower) mark(err error) error {
	if err != nil && p.NotSent != nil && p.NotSent(err) {
		return fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	return err
}
