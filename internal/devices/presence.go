package devices

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/internal/store"
)

// PresenceWriter records the gateway's presence batches in the store, as this replica (-replicaID,
// -replicaAddress), so that other replicas know who holds a device's session (protocol-cira-wsman §7).
type PresenceWriter struct {
	st      *store.Store
	replica string
	address string
	log     zerolog.Logger
}

var _ ciragw.PresenceWriter = (*PresenceWriter)(nil)

// NewPresenceWriter returns a PresenceWriter reporting as replica (its id) reachable at address.
func NewPresenceWriter(st *store.Store, replica, address string, log zerolog.Logger) *PresenceWriter {
	return &PresenceWriter{st: st, replica: replica, address: address, log: log.With().Str("component", "cira-presence").Logger()}
}

// WritePresence applies the batch in one statement. Records the store could never take (a GUID or tenant that
// is not a UUID, an unknown state) are logged and dropped rather than failing the batch, which the gateway would
// otherwise retry forever.
func (w *PresenceWriter) WritePresence(ctx context.Context, batch []ciragw.Presence) error {
	out := make([]store.Presence, 0, len(batch))
	for _, p := range batch {
		var state store.ConnectionState
		switch p.State {
		case ciragw.PresenceConnected:
			state = store.ConnectionConnected
		case ciragw.PresenceDisconnected:
			state = store.ConnectionDisconnected
		}
		if _, err := uuid.Parse(p.GUID); err != nil || state == "" || p.At.IsZero() {
			w.log.Warn().Str("guid", p.GUID).Str("tenant", p.Tenant).Str("state", string(p.State)).
				Msg("dropping a presence record the store cannot take")
			continue
		}
		if _, err := uuid.Parse(p.Tenant); err != nil {
			w.log.Warn().Str("guid", p.GUID).Str("tenant", p.Tenant).Msg("dropping a presence record without a tenant UUID")
			continue
		}
		out = append(out, store.Presence{
			GUID: p.GUID, TenantID: p.Tenant, State: state, At: p.At, LastSeen: p.LastSeen,
			OwnerReplica: w.replica, OwnerAddress: w.address, RemoteAddress: p.Remote,
		})
	}
	if len(out) == 0 {
		return nil
	}
	if _, err := w.st.ApplyPresence(ctx, out); err != nil {
		return fmt.Errorf("devices: recording CIRA presence of %d devices: %w", len(out), err)
	}
	return nil
}
