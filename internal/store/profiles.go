package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Activation is the AMT control mode a profile activates into.
type Activation string

const (
	ActivationCCM Activation = "ccm" // client control mode (Setup)
	ActivationACM Activation = "acm" // admin control mode (AdminSetup with a domain certificate)
)

// UserConsent is the AMT user-consent setting a profile applies: "none", "kvm" or "all".
type UserConsent string

const (
	ConsentNone UserConsent = "none"
	ConsentKVM  UserConsent = "kvm"
	ConsentAll  UserConsent = "all"
)

// Profile is an activation profile; its Name (e.g. <tenant>_ccm) is what rpc-go sends in its command.
type Profile struct {
	TenantID    string      `db:"tenant_id"`
	Name        string      `db:"name"`
	Activation  Activation  `db:"activation"`
	CIRAConfig  string      `db:"cira_config"` // name of the CIRA configuration the profile applies
	UserConsent UserConsent `db:"user_consent"`
	Tags        []string    `db:"tags"`
	Features
	CreatedAt time.Time `db:"created_at"`
	UpdatedAt time.Time `db:"updated_at"`
}

// Features are what the tenant sets on a profile (SetProfileFeatures): the redirection features it enables (§2.8)
// and AMT's TLS configuration (§2.10). A new profile gets DefaultFeatures; UpsertProfile never changes them.
type Features struct {
	KVM     bool    `db:"kvm_enabled"`
	SOL     bool    `db:"sol_enabled"`
	IDER    bool    `db:"ider_enabled"`
	TLSMode TLSMode `db:"tls_mode"`
}

// TLSMode is RPS's profile tlsMode (§2.10) as far as dm-manager allows it: only modes that keep AMT accepting
// non-TLS connections, because the CIRA gateway sends WS-Man to port 16992.
type TLSMode int

const (
	TLSModeNone   TLSMode = 0 // no TLS configuration: AMT keeps its own certificate
	TLSModeServer TLSMode = 2 // server authentication, non-TLS connections allowed
	TLSModeMutual TLSMode = 4 // mutual authentication, non-TLS connections allowed
)

// Valid reports whether m is a mode dm-manager applies.
func (m TLSMode) Valid() bool { return m == TLSModeNone || m == TLSModeServer || m == TLSModeMutual }

// DefaultFeatures are the features of EMF's tenant profiles (protocol-rps-activation §3.7), the columns' defaults.
var DefaultFeatures = Features{KVM: true, SOL: true, IDER: false}

const profileColumns = `tenant_id::text AS tenant_id, name, activation, cira_config, user_consent, tags, ` +
	`kvm_enabled, sol_enabled, ider_enabled, tls_mode, created_at, updated_at`

// scanProfile reads a row of profileColumns by column name.
var scanProfile = pgx.RowToStructByName[Profile]

// UpsertProfile creates or replaces a profile, keeping the features of an existing one (a new one gets
// DefaultFeatures; p.Features is ignored). ErrUnknownTenant if the tenant is not recorded.
func (s *Store) UpsertProfile(ctx context.Context, p Profile) (Profile, error) {
	if err := checkUUID("tenant id", p.TenantID); err != nil {
		return Profile{}, err
	}
	if p.UserConsent == "" {
		p.UserConsent = ConsentAll
	}
	if p.Tags == nil {
		p.Tags = []string{}
	}
	rows, _ := s.db.Query(ctx, `
		INSERT INTO profiles (tenant_id, name, activation, cira_config, user_consent, tags)
		VALUES ($1::uuid, $2, $3, $4, $5, $6)
		ON CONFLICT (tenant_id, name) DO UPDATE SET
			activation = EXCLUDED.activation,
			cira_config = EXCLUDED.cira_config,
			user_consent = EXCLUDED.user_consent,
			tags = EXCLUDED.tags,
			updated_at = now()
		RETURNING `+profileColumns,
		p.TenantID, p.Name, string(p.Activation), p.CIRAConfig, string(p.UserConsent), p.Tags)
	out, err := pgx.CollectExactlyOneRow(rows, scanProfile)
	return out, mapErr(err, "upsert profile "+p.Name)
}

// GetProfile returns ErrNotFound when the tenant has no profile of that name.
func (s *Store) GetProfile(ctx context.Context, tenantID, name string) (Profile, error) {
	if err := checkUUID("tenant id", tenantID); err != nil {
		return Profile{}, err
	}
	rows, _ := s.db.Query(ctx, `SELECT `+profileColumns+` FROM profiles WHERE tenant_id = $1::uuid AND name = $2`,
		tenantID, name)
	p, err := pgx.CollectExactlyOneRow(rows, scanProfile)
	return p, mapErr(err, "get profile "+name)
}

// ListProfiles returns a tenant's profiles ordered by name.
func (s *Store) ListProfiles(ctx context.Context, tenantID string) ([]Profile, error) {
	if err := checkUUID("tenant id", tenantID); err != nil {
		return nil, err
	}
	rows, _ := s.db.Query(ctx, `SELECT `+profileColumns+` FROM profiles WHERE tenant_id = $1::uuid ORDER BY name`,
		tenantID)
	ps, err := pgx.CollectRows(rows, scanProfile)
	return ps, mapErr(err, "list profiles")
}

// SetProfileFeatures sets the redirection features and the TLS mode of a tenant's profile. ErrNotFound when there
// is no such profile.
func (s *Store) SetProfileFeatures(ctx context.Context, tenantID, name string, f Features) (Profile, error) {
	if err := checkUUID("tenant id", tenantID); err != nil {
		return Profile{}, err
	}
	rows, _ := s.db.Query(ctx, `
		UPDATE profiles SET kvm_enabled = $3, sol_enabled = $4, ider_enabled = $5, tls_mode = $6, updated_at = now()
		WHERE tenant_id = $1::uuid AND name = $2
		RETURNING `+profileColumns, tenantID, name, f.KVM, f.SOL, f.IDER, int(f.TLSMode))
	p, err := pgx.CollectExactlyOneRow(rows, scanProfile)
	return p, mapErr(err, "set features of profile "+name)
}
