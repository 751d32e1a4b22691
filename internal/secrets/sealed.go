package secrets

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"
)

// sealedStore keeps each secret as one row of sealed_secrets (migration 0002): the JSON of its key/value map sealed
// with AES-256-GCM under a random 96-bit nonce, with the path as additional data so a row copied to another path
// does not open.
type sealedStore struct {
	pool  *pgxpool.Pool
	aead  cipher.AEAD
	keyID string
}

// aadPrefix versions the additional data so a future format cannot be confused with this one.
const aadPrefix = "dm-manager sealed secret v1\x00"

const pgUndefinedTable = "42P01"

func newSealedStore(ctx context.Context, pool *pgxpool.Pool, key []byte, log zerolog.Logger) (*sealedStore, error) {
	if pool == nil {
		return nil, errors.New("secrets: the embedded backend needs a database pool")
	}
	s, err := newSealer(pool, key)
	if err != nil {
		return nil, err
	}
	if err := s.checkKey(ctx); err != nil {
		return nil, err
	}
	log.Info().Str("secrets_backend", BackendEmbedded).Str("key_id", s.keyID).Msg("secrets store ready")
	return s, nil
}

func newSealer(pool *pgxpool.Pool, key []byte) (*sealedStore, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	return &sealedStore{pool: pool, aead: aead, keyID: keyID(key)}, nil
}

// checkKey fails start-up, rather than the first activation, when rows were sealed under another key.
func (s *sealedStore) checkKey(ctx context.Context) error {
	var other string
	err := s.pool.QueryRow(ctx, `SELECT key_id FROM sealed_secrets WHERE key_id <> $1 LIMIT 1`, s.keyID).Scan(&other)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return wrapDBError("check key", "", err)
	}
	return fmt.Errorf("secrets: %w: stored rows carry key id %s, the configured key has id %s; "+
		"start with the -secretsKeyFile/DM_SECRETS_KEY the data was sealed with", ErrKeyMismatch, other, s.keyID)
}

func (s *sealedStore) Get(ctx context.Context, path string) (map[string]string, error) {
	if err := ValidatePath(path); err != nil {
		return nil, err
	}
	var nonce, sealed []byte
	var kid string
	err := s.pool.QueryRow(ctx, `SELECT nonce, ciphertext, key_id FROM sealed_secrets WHERE path = $1`, path).
		Scan(&nonce, &sealed, &kid)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("secrets: get %q: %w", path, ErrNotFound)
	}
	if err != nil {
		return nil, wrapDBError("get", path, err)
	}
	if kid != s.keyID {
		return nil, fmt.Errorf("secrets: get %q: %w (row key id %s, configured key id %s)", path, ErrKeyMismatch, kid, s.keyID)
	}
	if len(nonce) != s.aead.NonceSize() {
		return nil, fmt.Errorf("secrets: get %q: %w: nonce is %d bytes", path, ErrTampered, len(nonce))
	}
	plain, err := s.aead.Open(nil, nonce, sealed, []byte(aadPrefix+path))
	if err != nil {
		return nil, fmt.Errorf("secrets: get %q: %w: the row was modified or copied from another path", path, ErrTampered)
	}
	var data map[string]string
	if err := json.Unmarshal(plain, &data); err != nil {
		return nil, fmt.Errorf("secrets: get %q: sealed content is not a key/value map", path)
	}
	return data, nil
}

func (s *sealedStore) Put(ctx context.Context, path string, data map[string]string) error {
	if err := ValidatePath(path); err != nil {
		return err
	}
	if data == nil {
		data = map[string]string{}
	}
	plain, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("secrets: put %q: encode: %w", path, err)
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("secrets: put %q: nonce: %w", path, err)
	}
	sealed := s.aead.Seal(nil, nonce, plain, []byte(aadPrefix+path))
	_, err = s.pool.Exec(ctx, `
		INSERT INTO sealed_secrets (path, nonce, ciphertext, key_id, updated_at)
		VALUES ($1, $2, $3, $4, now())
		ON CONFLICT (path) DO UPDATE
		SET nonce = EXCLUDED.nonce, ciphertext = EXCLUDED.ciphertext, key_id = EXCLUDED.key_id, updated_at = now()`,
		path, nonce, sealed, s.keyID)
	if err != nil {
		return wrapDBError("put", path, err)
	}
	return nil
}

func (s *sealedStore) Delete(ctx context.Context, path string) error {
	if err := ValidatePath(path); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM sealed_secrets WHERE path = $1`, path); err != nil {
		return wrapDBError("delete", path, err)
	}
	return nil
}

func (s *sealedStore) DeletePrefix(ctx context.Context, prefix string) error {
	if err := ValidatePrefix(prefix); err != nil {
		return err
	}
	// starts_with, not LIKE: '_' is a legal path character and a LIKE wildcard.
	if _, err := s.pool.Exec(ctx, `DELETE FROM sealed_secrets WHERE starts_with(path, $1)`, prefix); err != nil {
		return wrapDBError("delete prefix", prefix, err)
	}
	return nil
}

// Close does nothing: the pool belongs to the caller.
func (s *sealedStore) Close() {}

func wrapDBError(op, path string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == pgUndefinedTable {
		return fmt.Errorf("secrets: %s: table sealed_secrets is missing; run the database migrations first", op)
	}
	if path == "" {
		return fmt.Errorf("secrets: %s: %w", op, err)
	}
	return fmt.Errorf("secrets: %s %q: %w", op, path, err)
}
