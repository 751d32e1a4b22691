package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/auth"
	"github.com/dmrm/dm-manager/internal/store"
)

// DomainStore keeps domain metadata (store.Domain). Every write takes the secret operation to run inside the
// same database transaction, so the metadata row and the PFX secret are stored or removed together: if the
// secret operation fails the row change is rolled back. Errors: store.ErrNotFound, store.ErrDuplicate (with a
// *store.DuplicateError naming the field), store.ErrUnknownTenant, ErrVersionConflict. Profile names are
// case-insensitive, as in RPS (protocol-rps-activation §3.3). StoreDomains adapts *store.Store.
type DomainStore interface {
	ListDomains(ctx context.Context, tenantID string) ([]store.Domain, error)
	GetDomain(ctx context.Context, tenantID, profileName string) (store.Domain, error)
	CreateDomain(ctx context.Context, d store.Domain, writeSecret func(context.Context) error) (store.Domain, error)
	// UpdateDomain replaces the domain named d.ProfileName if it is still the version created at version.
	UpdateDomain(ctx context.Context, d store.Domain, version time.Time, writeSecret func(context.Context) error) (store.Domain, error)
	RemoveDomain(ctx context.Context, tenantID, profileName string, deleteSecret func(context.Context) error) error
}

// ProfileStore reads a tenant's activation profiles and sets their redirection features (*store.Store
// satisfies it); store.ErrNotFound for an unknown profile.
type ProfileStore interface {
	ListProfiles(ctx context.Context, tenantID string) ([]store.Profile, error)
	GetProfile(ctx context.Context, tenantID, name string) (store.Profile, error)
	SetProfileFeatures(ctx context.Context, tenantID, name string, f store.Features) (store.Profile, error)
}

// ErrVersionConflict: the domain changed since the version the caller read.
var ErrVersionConflict = errors.New("domain was changed by another request")

// SecretStore is the part of internal/secrets.Store the API uses (secrets.Store satisfies it).
type SecretStore interface {
	Get(ctx context.Context, path string) (map[string]string, error)
	Put(ctx context.Context, path string, data map[string]string) error
	Delete(ctx context.Context, path string) error
}

// DeviceDirectory finds device records (*store.Store satisfies it); store.ErrNotFound for an unknown GUID.
type DeviceDirectory interface {
	GetDevice(ctx context.Context, guid string) (store.Device, error)
}

// ErrNotConnected is what DeviceAMT returns (wrapped or not) when the device has no live CIRA session.
var ErrNotConnected = errors.New("device is not connected over CIRA")

// DeviceAMT reads live AMT data of a connected device through the CIRA gateway; internal/app implements it with
// dmtclient/amt (one *amt.Client call per method). A device without a live session, and one that is not tenant's
// (or unknown), gives ErrNotConnected, as MPS answers both; ctx carries the request timeout.
type DeviceAMT interface {
	GeneralSettings(ctx context.Context, tenant, guid string) (amt.GeneralSettings, error)
	Version(ctx context.Context, tenant, guid string) (amt.Version, error)
	Hardware(ctx context.Context, tenant, guid string) (amt.Hardware, error)
	// ReadAuditLog is one AMT_AuditLog.ReadRecords from startIndex (1-based, oldest first).
	ReadAuditLog(ctx context.Context, tenant, guid string, startIndex int) (amt.AuditLogPage, error)
	BootCapabilities(ctx context.Context, tenant, guid string) (amt.BootCapabilities, error)
	// EventLog is the whole AMT_MessageLog, oldest first.
	EventLog(ctx context.Context, tenant, guid string) ([]amt.EventRecord, error)

	// Recovery (recovery.go). Writes return ErrNotConnected only when the request certainly did not reach AMT.
	RecoveryInfo(ctx context.Context, tenant, guid string) (amt.RecoveryInfo, error)
	PowerState(ctx context.Context, tenant, guid string) (amt.PowerState, error)
	ArmBoot(ctx context.Context, tenant, guid, source string, o amt.BootOptions) error
	ClearBoot(ctx context.Context, tenant, guid string) error
	RequestPowerStateChange(ctx context.Context, tenant, guid string, state amt.PowerState) error
	ArmPlatformErase(ctx context.Context, tenant, guid string, mask uint32, ssdPassword string) error
	EraseProgress(ctx context.Context, tenant, guid string) (amt.EraseState, amt.BootSettingData, error)
	Alarms(ctx context.Context, tenant, guid string) ([]amt.AlarmOccurrence, error)
	AddAlarm(ctx context.Context, tenant, guid string, a amt.AlarmOccurrence) error
	DeleteAlarm(ctx context.Context, tenant, guid, instanceID string) error
}

// TokenVerifier validates a request's bearer token (*auth.Verifier satisfies it). Errors wrap
// auth.ErrUnauthenticated.
type TokenVerifier interface {
	FromRequest(r *http.Request) (*auth.Claims, error)
}

// ErrProjectNotFound: the project name does not exist (or is not visible to the caller).
var ErrProjectNotFound = errors.New("project not found")

// ProjectResolver turns a project name from the URL into its UUID; authorization is the caller's
// Authorization header, forwarded. TenantManager implements it.
type ProjectResolver interface {
	ResolveProject(ctx context.Context, name, authorization string) (string, error)
}
