package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Domain is the metadata of a tenant's domain provisioning certificate (ACM). The PFX and its password are
// kept by internal/secrets under the same tenant and profile name.
type Domain struct {
	TenantID     string    `db:"tenant_id"`
	ProfileName  string    `db:"profile_name"`  // the domain's name, unique in the tenant
	DomainSuffix string    `db:"domain_suffix"` // DNS suffix, unique in the tenant ignoring case
	ExpiresAt    time.Time `db:"expires_at"`
	LeafSHA256   string    `db:"leaf_sha256"` // hex
	RootSHA256   string    `db:"root_sha256"` // hex
	CreatedAt    time.Time `db:"created_at"`
}

const domainColumns = `tenant_id::text AS tenant_id, profile_name, domain_suffix, expires_at, leaf_sha256, root_sha256, created_at`

// scanDomain reads a row of domainColumns by column name.
var scanDomain = pgx.RowToStructByName[Domain]

// InsertDomain records a new domain. A taken profile name or suffix gives a *DuplicateError naming
// "profile_name" or "domain_suffix" (errors.Is(err, ErrDuplicate)); an unrecorded tenant ErrUnknownTenant.
func (s *Store) InsertDomain(ctx context.Context, d Domain) (Domain, error) {
	if err := checkUUID("tenant id", d.TenantID); err != nil {
		return Domain{}, err
	}
	rows, _ := s.db.Query(ctx, `
		INSERT INTO domains (tenant_id, profile_name, domain_suffix, expires_at, leaf_sha256, root_sha256)
		VALUES ($1::uuid, $2, $3, $4, $5, $6)
		RETURNING `+domainColumns,
		d.TenantID, d.ProfileName, d.DomainSuffix, d.ExpiresAt, d.LeafSHA256, d.RootSHA256)
	out, err := pgx.CollectExactlyOneRow(rows, scanDomain)
	return out, mapErr(err, "insert domain "+d.ProfileName)
}

// GetDomain returns ErrNotFound when the tenant has no domain of that name.
func (s *Store) GetDomain(ctx context.Context, tenantID, profileName string) (Domain, error) {
	if err := checkUUID("tenant id", tenantID); err != nil {
		return Domain{}, err
	}
	rows, _ := s.db.Query(ctx, `SELECT `+domainColumns+` FROM domains WHERE tenant_id = $1::uuid AND profile_name = $2`,
		tenantID, profileName)
	d, err := pgx.CollectExactlyOneRow(rows, scanDomain)
	return d, mapErr(err, "get domain "+profileName)
}

// GetDomainBySuffix finds the tenant's domain whose suffix equals suffix ignoring case (the DNS suffix AMT
// reports, protocol-rps-activation: `fqdn`). ErrNotFound if none.
func (s *Store) GetDomainBySuffix(ctx context.Context, tenantID, suffix string) (Domain, error) {
	if err := checkUUID("tenant id", tenantID); err != nil {
		return Domain{}, err
	}
	rows, _ := s.db.Query(ctx, `SELECT `+domainColumns+` FROM domains
		WHERE tenant_id = $1::uuid AND lower(domain_suffix) = lower($2)`, tenantID, suffix)
	d, err := pgx.CollectExactlyOneRow(rows, scanDomain)
	return d, mapErr(err, "get domain by suffix "+suffix)
}

// ListDomains returns a tenant's domains ordered by name.
func (s *Store) ListDomains(ctx context.Context, tenantID string) ([]Domain, error) {
	if err := checkUUID("tenant id", tenantID); err != nil {
		return nil, err
	}
	rows, _ := s.db.Query(ctx, `SELECT `+domainColumns+` FROM domains WHERE tenant_id = $1::uuid ORDER BY profile_name`,
		tenantID)
	ds, err := pgx.CollectRows(rows, scanDomain)
	return ds, mapErr(err, "list domains")
}

// DeleteDomain removes a domain; ErrNotFound if it did not exist.
func (s *Store) DeleteDomain(ctx context.Context, tenantID, profileName string) error {
	if err := checkUUID("tenant id", tenantID); err != nil {
		return err
	}
	tag, err := s.db.Exec(ctx, `DELETE FROM domains WHERE tenant_id = $1::uuid AND profile_name = $2`, tenantID, profileName)
	if err != nil {
		return mapErr(err, "delete domain "+profileName)
	}
	if tag.RowsAffected() == 0 {
		return mapErr(pgx.ErrNoRows, "delete domain "+profileName)
	}
	return nil
}
