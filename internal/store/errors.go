package store

import (
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var (
	// ErrNotFound: the row asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrDuplicate: a unique key is already taken; the *DuplicateError says which field.
	ErrDuplicate = errors.New("already exists")
	// ErrUnknownTenant: a row refers to a tenant dm-manager has not recorded (tenant reconciler not run yet).
	ErrUnknownTenant = errors.New("tenant not known to dm-manager")
	// ErrInvalid: an argument cannot be stored as given (e.g. a GUID that is not a UUID).
	ErrInvalid = errors.New("invalid argument")
)

// DuplicateError reports which unique field of which entity collided. errors.Is(err, ErrDuplicate) holds.
type DuplicateError struct {
	Entity string // "domain"
	Field  string // "profile_name", "domain_suffix"
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("%s with this %s already exists", e.Entity, e.Field)
}

// Is makes errors.Is(err, ErrDuplicate) true.
func (e *DuplicateError) Is(target error) bool { return target == ErrDuplicate }

// uniqueFields maps the unique constraints of migrations/0001_initial.sql to the field a user set.
var uniqueFields = map[string]struct{ entity, field string }{
	"domains_pkey":              {"domain", "profile_name"},
	"domains_tenant_suffix_key": {"domain", "domain_suffix"},
}

// mapErr turns driver errors into the package's typed errors, adding what was being done.
func mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("store: %s: %w", what, ErrNotFound)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "42P01": // undefined_table
			return fmt.Errorf("store: %s: table missing (%s); run the database migrations first", what, pgErr.Message)
		case "23505": // unique_violation
			if f, ok := uniqueFields[pgErr.ConstraintName]; ok {
				return fmt.Errorf("store: %s: %w", what, &DuplicateError{Entity: f.entity, Field: f.field})
			}
			return fmt.Errorf("store: %s: %w (%s)", what, ErrDuplicate, pgErr.ConstraintName)
		case "23503": // foreign_key_violation: every foreign key points at tenants
			return fmt.Errorf("store: %s: %w", what, ErrUnknownTenant)
		case "23514", "22P02": // check_violation, invalid_text_representation
			return fmt.Errorf("store: %s: %w: %s", what, ErrInvalid, pgErr.Message)
		}
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// checkUUID validates an id before it reaches SQL, so a bad id is ErrInvalid rather than a driver error.
func checkUUID(field, v string) error {
	if _, err := uuid.Parse(v); err != nil {
		return fmt.Errorf("store: %s %q is not a UUID: %w", field, v, ErrInvalid)
	}
	return nil
}
