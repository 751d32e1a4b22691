package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// SealedSecret is one row of sealed_secrets (migration 0002): a secret sealed by internal/secrets' embedded
// backend. The store keeps the bytes; sealing and opening stay in internal/secrets.
type SealedSecret struct {
	Path       string `db:"path"`
	Nonce      []byte `db:"nonce"`
	Ciphertext []byte `db:"ciphertext"`
	KeyID      string `db:"key_id"`
}

const sealedColumns = `path, nonce, ciphertext, key_id`

// SealedKeyOtherThan returns the key id of some row sealed under a key other than keyID; found is false when
// every row carries keyID (or there are none).
func (s *Store) SealedKeyOtherThan(ctx context.Context, keyID string) (other string, found bool, err error) {
	err = s.db.QueryRow(ctx, `SELECT key_id FROM sealed_secrets WHERE key_id <> $1 LIMIT 1`, keyID).Scan(&other)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, mapErr(err, "check sealed secrets' key")
	}
	return other, true, nil
}

// GetSealed returns the row at path, or ErrNotFound.
func (s *Store) GetSealed(ctx context.Context, path string) (SealedSecret, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+sealedColumns+` FROM sealed_secrets WHERE path = $1`, path)
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[SealedSecret])
	return r, mapErr(err, "get sealed secret")
}

// GetSealedMany reads the rows at paths in one query; a path without a row has none in the result.
func (s *Store) GetSealedMany(ctx context.Context, paths []string) ([]SealedSecret, error) {
	query, arg := `SELECT `+sealedColumns+` FROM sealed_secrets WHERE path = ANY($1::text[])`, any(paths)
	if len(paths) == 1 { // as GetDevices
		query, arg = `SELECT `+sealedColumns+` FROM sealed_secrets WHERE path = $1`, paths[0]
	}
	rows, _ := s.db.Query(ctx, query, arg)
	rs, err := pgx.CollectRows(rows, pgx.RowToStructByName[SealedSecret])
	return rs, mapErr(err, fmt.Sprintf("get %d sealed secrets", len(paths)))
}

// PutSealed creates or replaces the row at r.Path.
func (s *Store) PutSealed(ctx context.Context, r SealedSecret) error {
	_, err := s.db.Exec(ctx, `
		INSERT INTO sealed_secrets (path, nonce, ciphertext, key_id, updated_at)
		VALUES ($1, $2, $3, $4, now())
		ON CONFLICT (path) DO UPDATE
		SET nonce = EXCLUDED.nonce, ciphertext = EXCLUDED.ciphertext, key_id = EXCLUDED.key_id, updated_at = now()`,
		r.Path, r.Nonce, r.Ciphertext, r.KeyID)
	return mapErr(err, "put sealed secret")
}

// CreateSealed stores r unless a row exists at r.Path already, and returns the row stored there: r with
// created true, or the existing row. Of any number of concurrent creators exactly one creates, and all get the
// same row back.
func (s *Store) CreateSealed(ctx context.Context, r SealedSecret) (stored SealedSecret, created bool, err error) {
	// A row deleted between our INSERT and the read-back sends us round again; three rounds lost to deletes
	// mean something keeps deleting the path, which the caller hears about.
	for range 3 {
		tag, err := s.db.Exec(ctx, `
			INSERT INTO sealed_secrets (path, nonce, ciphertext, key_id, updated_at)
			VALUES ($1, $2, $3, $4, now())
			ON CONFLICT (path) DO NOTHING`,
			r.Path, r.Nonce, r.Ciphertext, r.KeyID)
		if err != nil {
			return SealedSecret{}, false, mapErr(err, "create sealed secret")
		}
		if tag.RowsAffected() == 1 {
			return r, true, nil
		}
		// The conflicting row was committed before our INSERT returned, so this next statement sees it.
		stored, err = s.GetSealed(ctx, r.Path)
		if !errors.Is(err, ErrNotFound) {
			return stored, false, err
		}
	}
	return SealedSecret{}, false, mapErr(errors.New("the row was deleted each time it was read back; retry"),
		"create sealed secret")
}

// DeleteSealed removes the row at path; a missing row is not an error.
func (s *Store) DeleteSealed(ctx context.Context, path string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM sealed_secrets WHERE path = $1`, path)
	return mapErr(err, "delete sealed secret")
}

// DeleteSealedPrefix removes every row whose path starts with prefix.
func (s *Store) DeleteSealedPrefix(ctx context.Context, prefix string) error {
	// starts_with, not LIKE: '_' is a legal path character and a LIKE wildcard.
	_, err := s.db.Exec(ctx, `DELETE FROM sealed_secrets WHERE starts_with(path, $1)`, prefix)
	return mapErr(err, "delete sealed secrets by prefix")
}
