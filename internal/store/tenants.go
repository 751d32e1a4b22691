package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Tenant is an Inventory tenant dm-manager has bootstrapped, with its CIRA configuration.
type Tenant struct {
	ID                 string    `db:"tenant_id"`              // Inventory tenant UUID
	CIRAServerAddress  string    `db:"cira_server_address"`    // host:port AMT dials
	CIRARootCertDERB64 string    `db:"cira_root_cert_der_b64"` // gateway root CA in DER, base64
	PasswordPolicy     string    `db:"password_policy"`        // "static" or "dynamic"
	CreatedAt          time.Time `db:"created_at"`
	UpdatedAt          time.Time `db:"updated_at"`
}

const tenantColumns = `tenant_id::text AS tenant_id, cira_server_address, cira_root_cert_der_b64, password_policy, created_at, updated_at`

// scanTenant reads a row of tenantColumns by column name.
var scanTenant = pgx.RowToStructByName[Tenant]

// UpsertTenant creates or replaces a tenant's CIRA configuration; CreatedAt is kept on update.
func (s *Store) UpsertTenant(ctx context.Context, t Tenant) (Tenant, error) {
	if err := checkUUID("tenant id", t.ID); err != nil {
		return Tenant{}, err
	}
	if t.PasswordPolicy == "" {
		t.PasswordPolicy = "static"
	}
	rows, _ := s.db.Query(ctx, `
		INSERT INTO tenants (tenant_id, cira_server_address, cira_root_cert_der_b64, password_policy)
		VALUES ($1::uuid, $2, $3, $4)
		ON CONFLICT (tenant_id) DO UPDATE SET
			cira_server_address = EXCLUDED.cira_server_address,
			cira_root_cert_der_b64 = EXCLUDED.cira_root_cert_der_b64,
			password_policy = EXCLUDED.password_policy,
			updated_at = now()
		RETURNING `+tenantColumns,
		t.ID, t.CIRAServerAddress, t.CIRARootCertDERB64, t.PasswordPolicy)
	out, err := pgx.CollectExactlyOneRow(rows, scanTenant)
	return out, mapErr(err, "upsert tenant "+t.ID)
}

// GetTenant returns ErrNotFound when the tenant is not recorded.
func (s *Store) GetTenant(ctx context.Context, id string) (Tenant, error) {
	if err := checkUUID("tenant id", id); err != nil {
		return Tenant{}, err
	}
	rows, _ := s.db.Query(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE tenant_id = $1::uuid`, id)
	t, err := pgx.CollectExactlyOneRow(rows, scanTenant)
	return t, mapErr(err, "get tenant "+id)
}

// ListTenants returns every tenant, ordered by id.
func (s *Store) ListTenants(ctx context.Context) ([]Tenant, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+tenantColumns+` FROM tenants ORDER BY tenant_id`)
	ts, err := pgx.CollectRows(rows, scanTenant)
	return ts, mapErr(err, "list tenants")
}

// DeleteTenant removes the tenant and, by foreign-key cascade in the same statement, its profiles, domains,
// devices and journal entries. ErrNotFound if it was not recorded.
func (s *Store) DeleteTenant(ctx context.Context, id string) error {
	if err := checkUUID("tenant id", id); err != nil {
		return err
	}
	tag, err := s.db.Exec(ctx, `DELETE FROM tenants WHERE tenant_id = $1::uuid`, id)
	if err != nil {
		return mapErr(err, "delete tenant "+id)
	}
	if tag.RowsAffected() == 0 {
		return mapErr(pgx.ErrNoRows, "delete tenant "+id)
	}
	return nil
}
