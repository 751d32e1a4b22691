package app

import (
	"context"

	"github.com/dmrm/dm-manager/dmtclient/amt"
)

// EventLog reads the device's AMT event log for the REST API.
func (d deviceAMT) EventLog(ctx context.Context, tenantID, guid string) ([]amt.EventRecord, error) {
	return withClient(ctx, d, tenantID, guid, (*amt.Client).EventLog)
}
