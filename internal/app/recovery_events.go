package app

import (
	"context"

	"github.com/dmrm/dm-manager/internal/api"
	"github.com/dmrm/dm-manager/internal/events"
)

// recoveryEvents hands the REST recovery actions (api.Auditor) to the event sinks: the audit trail read through
// GET /dm/events, and MQTT when configured.
type recoveryEvents struct{ sink events.Sink }

var _ api.Auditor = recoveryEvents{}

func (r recoveryEvents) Record(_ context.Context, e api.RecoveryEvent) {
	r.sink.Emit(events.Event{Kind: events.Kind(e.Kind), Tenant: e.Tenant, GUID: e.GUID,
		AMTValue: e.AMTValue, Outcome: e.Outcome, Message: e.Message, Source: "api"})
}
