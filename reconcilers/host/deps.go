package host

import (
	"context"
	"errors"
	"strings"
	"time"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/inventory"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
)

// ID names a host for reconciliation: tenant and host UUID (the device GUID). String() is "<tenant>_<uuid>", the
// key EMF's dm-manager uses; UUIDs hold no "_", so the split is unambiguous.
type ID string

// NewID builds the ID of the tenant's host with the given UUID; the UUID is lower-cased (contracts: GUID form).
func NewID(tenant, uuid string) ID { return ID(tenant + "_" + strings.ToLower(uuid)) }

func (id ID) String() string { return string(id) }

// Tenant is the tenant part of the ID.
func (id ID) Tenant() string {
	t, _, _ := strings.Cut(string(id), "_")
	return t
}

// GUID is the host UUID part of the ID.
func (id ID) GUID() string {
	_, g, _ := strings.Cut(string(id), "_")
	return g
}

// The reconciler's view of the rest of the program. Each interface is the smallest slice it uses, so real types
// satisfy them directly: *inventory.Client (HostSource, StatusWriter), *store.Store (Devices, Journal),
// secrets.Store (Secrets). PowerControl and Presence need thin adapters (AMTPower, PresenceFunc), wired in
// internal/app.

// HostSource reads a host from Inventory, by resource ID or by UUID; a missing host is an error matching
// inventory.ErrNotFound.
type HostSource interface {
	GetHost(ctx context.Context, tenant, resourceID string) (*computev1.HostResource, error)
	GetHostByUUID(ctx context.Context, tenant, uuid string) (*computev1.HostResource, error)
}

// StatusWriter writes the AMT and power reports (status triplets and current states) of one step in one Inventory
// update, leaving out what cur (the host as the reconciler read it) already holds. It returns the host with the
// write applied, the cur of the next write.
type StatusWriter interface {
	UpdateStatusOf(ctx context.Context, tenant string, cur *computev1.HostResource, r inventory.StatusReport,
	) (*computev1.HostResource, error)
}

// Devices reads, links, lists and forgets device records; a missing one is an error matching store.ErrNotFound.
type Devices interface {
	GetDevice(ctx context.Context, guid string) (store.Device, error)
	SetDeviceHost(ctx context.Context, tenantID, guid, hostResourceID string) error
	DeleteDevice(ctx context.Context, guid string) error
	ListTenants(ctx context.Context) ([]store.Tenant, error)
	ListDevicesByTenant(ctx context.Context, tenantID string) ([]store.Device, error)
}

// Journal is the operation journal (architecture "State"): operations in flight survive restarts.
type Journal interface {
	ListJournal(ctx context.Context, guid string) ([]store.JournalEntry, error)
	PutJournal(ctx context.Context, e store.JournalEntry) (store.JournalEntry, error)
	DeleteJournal(ctx context.Context, guid string, kind store.OpKind) error
	ListDueJournal(ctx context.Context, now time.Time) ([]store.JournalEntry, error)
}

// PowerControl runs AMT operations on a device over its CIRA session. An error that proves the request never
// reached AMT wraps ErrNotSent (no client) or carries wsman.NotWritten (the transport did not write it); AMT's own
// refusals come back as dmtclient/wsman errors (*wsman.ReturnValueError, *wsman.FaultError, wsman.ErrAuthFailed, ...).
type PowerControl interface {
	GetPowerState(ctx context.Context, tenant, guid string) (amt.PowerState, error)
	RequestPowerStateChange(ctx context.Context, tenant, guid string, state amt.PowerState) error
	Unprovision(ctx context.Context, tenant, guid string) error
}

// Presence tells whether this replica holds the device's CIRA session, and since when.
type Presence interface {
	Connected(guid string) (since time.Time, ok bool)
}

// PresenceFunc adapts a function to Presence, e.g. over (*ciragw.Gateway).Session.
type PresenceFunc func(guid string) (time.Time, bool)

// Connected calls f.
func (f PresenceFunc) Connected(guid string) (time.Time, bool) { return f(guid) }

// Secrets deletes a device's secrets (internal/secrets Device path); deleting a missing path is not an error.
type Secrets interface {
	Delete(ctx context.Context, path string) error
}

// ErrNotSent marks an error proving a request never reached AMT (no session on this replica, no client for the
// device): the reconciler may safely send it later.
var ErrNotSent = errors.New("request not sent to AMT")

// The real implementations satisfy the interfaces directly.
var (
	_ HostSource   = (*inventory.Client)(nil)
	_ StatusWriter = (*inventory.Client)(nil)
	_ Devices      = (*store.Store)(nil)
	_ Journal      = (*store.Store)(nil)
	_ Secrets      = secrets.Store(nil)
	_ PowerControl = AMTPower{}
)
