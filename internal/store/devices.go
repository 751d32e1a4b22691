package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// ControlMode is AMT's provisioning mode as AMT reports it (GetControlMode: 0 pre-provisioning, 1 CCM, 2 ACM).
type ControlMode int16

const (
	ControlModePre ControlMode = 0
	ControlModeCCM ControlMode = 1
	ControlModeACM ControlMode = 2
)

// ActivationState is dm-manager's view of where a device is in activation.
type ActivationState string

const (
	StateUnprovisioned ActivationState = "unprovisioned"
	StateActivating    ActivationState = "activating"
	StateActivated     ActivationState = "activated"
	StateDeactivating  ActivationState = "deactivating"
)

// ConnectionState is the device's CIRA presence.
type ConnectionState string

const (
	ConnectionNever        ConnectionState = "never"
	ConnectionConnected    ConnectionState = "connected"
	ConnectionDisconnected ConnectionState = "disconnected"
)

// Device is one AMT device (GUID = host UUID, lower-case canonical).
//
// Presence fields (ConnectionState, Owner*, RemoteAddress, *At times) are written only by ApplyPresence and
// facts only by MergeDeviceFacts (activation), so the gateway's and activation's writes never overwrite each other.
// Zero times mean "never".
type Device struct {
	GUID            string
	TenantID        string
	HostResourceID  string
	CIRAUsername    string // empty until CIRA credentials exist
	ControlMode     ControlMode
	ActivationState ActivationState
	DNSSuffix       string
	AMTVersion      string
	AMTBuild        string
	AMTSKU          string

	ConnectionState ConnectionState
	OwnerReplica    string
	OwnerAddress    string
	RemoteAddress   string
	LastSeenAt      time.Time // NULL reads as zero
	ConnectedAt     time.Time
	DisconnectedAt  time.Time

	Facts     json.RawMessage // cached AMT information, a JSON object
	CreatedAt time.Time
	UpdatedAt time.Time
}

const deviceColumns = `guid::text AS guid, tenant_id::text AS tenant_id, host_resource_id,
	coalesce(cira_username, '') AS cira_username, control_mode,
	activation_state, dns_suffix, amt_version, amt_build, amt_sku, connection_state, owner_replica, owner_address,
	remote_address, last_seen_at, connected_at, disconnected_at, facts, created_at, updated_at`

// scanDevice reads a row of deviceColumns by position, in their order. Positional, not by name through
// reflection: every CIRA login and every host reconcile reads a device, and RowToStructByName cost half of the
// read's CPU (TestGetDeviceReadsEveryColumn keeps the two lists in step).
func scanDevice(row pgx.CollectableRow) (Device, error) {
	var (
		d                                 Device
		mode                              int16
		activation, connection            string
		lastSeen, connected, disconnected pgtype.Timestamptz
	)
	err := row.Scan(&d.GUID, &d.TenantID, &d.HostResourceID, &d.CIRAUsername, &mode, &activation, &d.DNSSuffix,
		&d.AMTVersion, &d.AMTBuild, &d.AMTSKU, &connection, &d.OwnerReplica, &d.OwnerAddress, &d.RemoteAddress,
		&lastSeen, &connected, &disconnected, &d.Facts, &d.CreatedAt, &d.UpdatedAt)
	d.ControlMode, d.ActivationState, d.ConnectionState = ControlMode(mode), ActivationState(activation),
		ConnectionState(connection)
	d.LastSeenAt, d.ConnectedAt, d.DisconnectedAt = lastSeen.Time, connected.Time, disconnected.Time
	return d, err
}

// UpsertDevice creates a device or updates its identity and provisioning fields (not presence, not facts).
// CIRA usernames need not be unique: the gateway identifies a device by its GUID (protocol-cira-wsman §4.2).
func (s *Store) UpsertDevice(ctx context.Context, d Device) (Device, error) {
	if err := checkUUID("guid", d.GUID); err != nil {
		return Device{}, err
	}
	if err := checkUUID("tenant id", d.TenantID); err != nil {
		return Device{}, err
	}
	if d.ActivationState == "" {
		d.ActivationState = StateUnprovisioned
	}
	rows, _ := s.db.Query(ctx, `
		INSERT INTO devices (guid, tenant_id, host_resource_id, cira_username, control_mode, activation_state,
			dns_suffix, amt_version, amt_build, amt_sku)
		VALUES ($1::uuid, $2::uuid, $3, NULLIF($4, ''), $5, $6, $7, $8, $9, $10)
		ON CONFLICT (guid) DO UPDATE SET
			tenant_id = EXCLUDED.tenant_id,
			host_resource_id = EXCLUDED.host_resource_id,
			cira_username = EXCLUDED.cira_username,
			control_mode = EXCLUDED.control_mode,
			activation_state = EXCLUDED.activation_state,
			dns_suffix = EXCLUDED.dns_suffix,
			amt_version = EXCLUDED.amt_version,
			amt_build = EXCLUDED.amt_build,
			amt_sku = EXCLUDED.amt_sku,
			updated_at = now()
		RETURNING `+deviceColumns,
		d.GUID, d.TenantID, d.HostResourceID, d.CIRAUsername, int16(d.ControlMode), string(d.ActivationState),
		d.DNSSuffix, d.AMTVersion, d.AMTBuild, d.AMTSKU)
	out, err := pgx.CollectExactlyOneRow(rows, scanDevice)
	return out, mapErr(err, "upsert device "+d.GUID)
}

// GetDevice returns ErrNotFound for an unknown GUID.
func (s *Store) GetDevice(ctx context.Context, guid string) (Device, error) {
	if err := checkUUID("guid", guid); err != nil {
		return Device{}, err
	}
	rows, _ := s.db.Query(ctx, `SELECT `+deviceColumns+` FROM devices WHERE guid = $1::uuid`, guid)
	d, err := pgx.CollectExactlyOneRow(rows, scanDevice)
	return d, mapErr(err, "get device "+guid)
}

// GetDevices reads the devices of guids (lower-case canonical) in one query, keyed by GUID; an unknown GUID is
// absent from the map. ErrInvalid, reading nothing, when one is not a UUID.
func (s *Store) GetDevices(ctx context.Context, guids []string) (map[string]Device, error) {
	for _, g := range guids {
		if err := checkUUID("guid", g); err != nil {
			return nil, err
		}
	}
	// One GUID reads by equality: Postgres answers `= ANY` of a one-element array markedly slower.
	query, arg := `SELECT `+deviceColumns+` FROM devices WHERE guid = ANY($1::uuid[])`, any(guids)
	if len(guids) == 1 {
		query, arg = `SELECT `+deviceColumns+` FROM devices WHERE guid = $1::uuid`, guids[0]
	}
	rows, _ := s.db.Query(ctx, query, arg)
	ds, err := pgx.CollectRows(rows, scanDevice)
	if err != nil {
		return nil, mapErr(err, fmt.Sprintf("get %d devices", len(guids)))
	}
	out := make(map[string]Device, len(ds))
	for _, d := range ds {
		out[d.GUID] = d
	}
	return out, nil
}

// ListDevicesByTenant returns a tenant's devices ordered by GUID.
func (s *Store) ListDevicesByTenant(ctx context.Context, tenantID string) ([]Device, error) {
	if err := checkUUID("tenant id", tenantID); err != nil {
		return nil, err
	}
	rows, _ := s.db.Query(ctx, `SELECT `+deviceColumns+` FROM devices WHERE tenant_id = $1::uuid ORDER BY guid`, tenantID)
	ds, err := pgx.CollectRows(rows, scanDevice)
	return ds, mapErr(err, "list devices")
}

// DeleteDevice forgets a device; ErrNotFound if it was not recorded. Journal entries are the caller's to delete.
func (s *Store) DeleteDevice(ctx context.Context, guid string) error {
	if err := checkUUID("guid", guid); err != nil {
		return err
	}
	tag, err := s.db.Exec(ctx, `DELETE FROM devices WHERE guid = $1::uuid`, guid)
	if err != nil {
		return mapErr(err, "delete device "+guid)
	}
	if tag.RowsAffected() == 0 {
		return mapErr(pgx.ErrNoRows, "delete device "+guid)
	}
	return nil
}

// SetDeviceHost records the Inventory host (resource ID) a tenant's device belongs to; ErrNotFound when the tenant
// has no device with that GUID, ErrInvalid for an empty host resource ID. It writes only that column (and
// updated_at), so it never overwrites what an activation or an import writes beside it.
func (s *Store) SetDeviceHost(ctx context.Context, tenantID, guid, hostResourceID string) error {
	if err := checkUUID("tenant id", tenantID); err != nil {
		return err
	}
	if err := checkUUID("guid", guid); err != nil {
		return err
	}
	if hostResourceID == "" {
		return fmt.Errorf("store: set host of device %s: empty host resource ID: %w", guid, ErrInvalid)
	}
	tag, err := s.db.Exec(ctx, `UPDATE devices SET host_resource_id = $3, updated_at = now()
		WHERE guid = $1::uuid AND tenant_id = $2::uuid`, guid, tenantID, hostResourceID)
	if err != nil {
		return mapErr(err, "set host of device "+guid)
	}
	if tag.RowsAffected() == 0 {
		return mapErr(pgx.ErrNoRows, "set host of device "+guid)
	}
	return nil
}
