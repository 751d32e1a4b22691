package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Presence is one CIRA presence change reported by a replica's gateway (contracts: presence sink).
type Presence struct {
	GUID          string
	TenantID      string
	State         ConnectionState // ConnectionConnected or ConnectionDisconnected
	At            time.Time       // when the session was established or lost
	LastSeen      time.Time       // last traffic from the device; zero means At
	OwnerReplica  string          // replica reporting (and, when connected, holding) the session
	OwnerAddress  string          // that replica's internal address
	RemoteAddress string          // the device's address as seen by the gateway
}

// presenceSQL applies a batch in one statement. Two guards keep replicas from undoing each other when a
// device moves between them: an entry older than the device's latest connect/disconnect is ignored, and a
// disconnect only applies if the reporting replica still owns the session.
const presenceSQL = `
UPDATE devices AS d SET
	connection_state = p.state,
	connected_at     = CASE WHEN p.state = 'connected' THEN p.at ELSE d.connected_at END,
	disconnected_at  = CASE WHEN p.state = 'disconnected' THEN p.at ELSE d.disconnected_at END,
	last_seen_at     = GREATEST(d.last_seen_at, p.last_seen),
	owner_replica    = CASE WHEN p.state = 'connected' THEN p.replica ELSE '' END,
	owner_address    = CASE WHEN p.state = 'connected' THEN p.address ELSE '' END,
	remote_address   = CASE WHEN p.state = 'connected' THEN p.remote ELSE d.remote_address END,
	updated_at       = now()
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[], $7::text[],
	$8::text[]) AS p(guid, tenant_id, state, at, last_seen, replica, address, remote)
WHERE d.guid = p.guid::uuid
	AND d.tenant_id = p.tenant_id::uuid
	AND p.at >= COALESCE(GREATEST(d.connected_at, d.disconnected_at), '-infinity')
	AND (p.state = 'connected' OR d.owner_replica IN ('', p.replica))`

// ApplyPresence writes a batch of presence changes in ONE statement and returns how many devices changed.
// Entries for unknown devices, or stale per the guards above, are skipped. Within the batch only the latest
// entry per GUID counts. An invalid entry rejects the whole batch (ErrInvalid), naming its index.
func (s *Store) ApplyPresence(ctx context.Context, batch []Presence) (int64, error) {
	latest := make(map[string]int, len(batch))
	for i, p := range batch {
		if err := checkUUID(fmt.Sprintf("presence[%d] guid", i), p.GUID); err != nil {
			return 0, err
		}
		if err := checkUUID(fmt.Sprintf("presence[%d] tenant id", i), p.TenantID); err != nil {
			return 0, err
		}
		if p.State != ConnectionConnected && p.State != ConnectionDisconnected {
			return 0, fmt.Errorf("store: presence[%d] state %q: %w", i, p.State, ErrInvalid)
		}
		if p.At.IsZero() {
			return 0, fmt.Errorf("store: presence[%d] has no time: %w", i, ErrInvalid)
		}
		key := strings.ToLower(p.GUID)
		if j, ok := latest[key]; !ok || !p.At.Before(batch[j].At) {
			latest[key] = i
		}
	}
	if len(latest) == 0 {
		return 0, nil
	}
	n := len(latest)
	guids, tenants, states := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	ats, seen := make([]time.Time, 0, n), make([]time.Time, 0, n)
	replicas, addrs, remotes := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	for i, p := range batch {
		if latest[strings.ToLower(p.GUID)] != i {
			continue
		}
		lastSeen := p.LastSeen
		if lastSeen.IsZero() {
			lastSeen = p.At
		}
		guids, tenants, states = append(guids, p.GUID), append(tenants, p.TenantID), append(states, string(p.State))
		ats, seen = append(ats, p.At), append(seen, lastSeen)
		replicas, addrs, remotes = append(replicas, p.OwnerReplica), append(addrs, p.OwnerAddress), append(remotes, p.RemoteAddress)
	}
	tag, err := s.db.Exec(ctx, presenceSQL, guids, tenants, states, ats, seen, replicas, addrs, remotes)
	if err != nil {
		return 0, mapErr(err, fmt.Sprintf("apply presence of %d devices", n))
	}
	return tag.RowsAffected(), nil
}
