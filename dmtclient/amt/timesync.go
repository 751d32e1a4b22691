package amt

import (
	"context"
	"time"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

var uriTimeSynchronizationService = wsman.AMT("AMT_TimeSynchronizationService")

// SyncClock sets AMT's clock to ours (maintenance synctime, protocol-rps-activation §2.13):
// GetLowAccuracyTimeSynch returns AMT's time Ta0, then SetHighAccuracyTimeSynch(Ta0, Tm1, Tm2) with our time
// (seconds since the epoch, UTC) taken right before the call; AMT rejects a Ta0 it did not just hand out.
func (c *Client) SyncClock(ctx context.Context, now func() time.Time) error {
	var out struct {
		Ta0         int64
		ReturnValue int
	}
	if err := c.invoke(ctx, uriTimeSynchronizationService, "GetLowAccuracyTimeSynch", &out); err != nil {
		return err
	}
	tm := now().Unix()
	return c.invoke(ctx, uriTimeSynchronizationService, "SetHighAccuracyTimeSynch", nil,
		wsman.Int("Ta0", out.Ta0), wsman.Int("Tm1", tm), wsman.Int("Tm2", tm))
}
