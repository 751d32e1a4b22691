package app

import (
	"context"
	"fmt"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/internal/api"
	"github.com/dmrm/dm-manager/internal/devices"
)

// The recovery calls of api.DeviceAMT. Reads map "no session" like the other reads; a write is reported as
// api.ErrNotConnected only when it certainly did not reach AMT (no session before the request was sent): a
// session lost after sending leaves the outcome unknown, which the API must not read as "not sent".

func (d deviceAMT) RecoveryInfo(ctx context.Context, tenantID, guid string) (amt.RecoveryInfo, error) {
	return withClient(ctx, d, tenantID, guid, (*amt.Client).RecoveryInfo)
}

func (d deviceAMT) PowerState(ctx context.Context, tenantID, guid string) (amt.PowerState, error) {
	st, err := withClient(ctx, d, tenantID, guid, (*amt.Client).PowerState)
	return st.PowerState, err
}

func (d deviceAMT) EraseProgress(ctx context.Context, tenantID, guid string) (amt.EraseState, amt.BootSettingData, error) {
	var st amt.EraseState
	set, err := withClient(ctx, d, tenantID, guid, func(c *amt.Client, ctx context.Context) (amt.BootSettingData, error) {
		var s amt.BootSettingData
		var err error
		st, s, err = c.EraseProgress(ctx)
		return s, err
	})
	return st, set, err
}

func (d deviceAMT) Alarms(ctx context.Context, tenantID, guid string) ([]amt.AlarmOccurrence, error) {
	return withClient(ctx, d, tenantID, guid, (*amt.Client).Alarms)
}

func (d deviceAMT) ArmBoot(ctx context.Context, tenantID, guid, source string, o amt.BootOptions) error {
	return d.write(ctx, tenantID, guid, func(c *amt.Client) error { return c.ArmBoot(ctx, source, o) })
}

func (d deviceAMT) ClearBoot(ctx context.Context, tenantID, guid string) error {
	return d.write(ctx, tenantID, guid, func(c *amt.Client) error { return c.ClearBoot(ctx) })
}

func (d deviceAMT) RequestPowerStateChange(ctx context.Context, tenantID, guid string, s amt.PowerState) error {
	return d.write(ctx, tenantID, guid, func(c *amt.Client) error { return c.RequestPowerStateChange(ctx, s) })
}

func (d deviceAMT) ArmPlatformErase(ctx context.Context, tenantID, guid string, mask uint32, ssdPassword string) error {
	return d.write(ctx, tenantID, guid, func(c *amt.Client) error { return c.ArmPlatformErase(ctx, mask, ssdPassword) })
}

func (d deviceAMT) AddAlarm(ctx context.Context, tenantID, guid string, a amt.AlarmOccurrence) error {
	return d.write(ctx, tenantID, guid, func(c *amt.Client) error { return c.AddAlarm(ctx, a) })
}

func (d deviceAMT) DeleteAlarm(ctx context.Context, tenantID, guid, instanceID string) error {
	return d.write(ctx, tenantID, guid, func(c *amt.Client) error { return c.DeleteAlarm(ctx, instanceID) })
}

func (d deviceAMT) write(ctx context.Context, tenantID, guid string, call func(*amt.Client) error) error {
	c, err := d.clients.For(ctx, tenantID, guid)
	if err != nil {
		return fmt.Errorf("%w: %w", api.ErrNotSent, notConnected(err)) // nothing was sent
	}
	err = call(c)
	if wsman.WrittenOf(err) == wsman.NotWritten && devices.NoSession(err) {
		return fmt.Errorf("%w: %w", api.ErrNotConnected, err)
	}
	return err
}
