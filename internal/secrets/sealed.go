package secrets

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/internal/store"
)

// SealedRows is where the embedded backend keeps its rows: the sealed_secrets table, whose SQL belongs to
// internal/store (*store.Store satisfies it). Sealing and opening stay here.
type SealedRows interface {
	SealedKeyOtherThan(ctx context.Context, keyID string) (other string, found bool, err error)
	GetSealed(ctx context.Context, path string) (store.SealedSecret, error)
	GetSealedMany(ctx context.Context, paths []string) ([]store.SealedSecret, error)
	PutSealed(ctx context.Context, r store.SealedSecret) error
	CreateSealed(ctx context.Context, r store.SealedSecret) (stored store.SealedSecret, created bool, err error)
	DeleteSealed(ctx context.Context, path string) error
	DeleteSealedPrefix(ctx context.Context, prefix string) error
}

var (
	_ SealedRows = (*store.Store)(nil)
	_ manyGetter = (*sealedStore)(nil)
)

// sealedStore keeps each secret as one row of sealed_secrets (migration 0002): the JSON of its key/value map sealed
// with AES-256-GCM under a random 96-bit nonce, with the path as additional data so a row copied to another path
// does not open.
type sealedStore struct {
	rows  SealedRows
	aead  cipher.AEAD
	keyID string
}

// aadPrefix versions the additional data so a future format cannot be confused with this one.
const aadPrefix = "dm-manager sealed secret v1\x00"

func newSealedStore(ctx context.Context, rows SealedRows, key []byte, log zerolog.Logger) (*sealedStore, error) {
	if rows == nil {
		return nil, errors.New("secrets: the embedded backend needs the database (store)")
	}
	s, err := newSealer(rows, key)
	if err != nil {
		return nil, err
	}
	if err := s.checkKey(ctx); err != nil {
		return nil, err
	}
	log.Info().Str("secrets_backend", BackendEmbedded).Str("key_id", s.keyID).Msg("secrets store ready")
	return s, nil
}

func newSealer(rows SealedRows, key []byte) (*sealedStore, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	return &sealedStore{rows: rows, aead: aead, keyID: keyID(key)}, nil
}

// checkKey fails start-up, rather than the first activation, when rows were sealed under another key.
func (s *sealedStore) checkKey(ctx context.Context) error {
	other, found, err := s.rows.SealedKeyOtherThan(ctx, s.keyID)
	switch {
	case err != nil:
		return wrapDBError("check key", "", err)
	case !found:
		return nil
	}
	return fmt.Errorf("secrets: %w: stored rows carry key id %s, the configured key has id %s; "+
		"start with the -secretsKeyFile/DM_SECRETS_KEY the data was sealed with", ErrKeyMismatch, other, s.keyID)
}

func (s *sealedStore) Get(ctx context.Context, path string) (map[string]string, error) {
	if err := ValidatePath(path); err != nil {
		return nil, err
	}
	r, err := s.rows.GetSealed(ctx, path)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("secrets: get %q: %w", path, ErrNotFound)
	}
	if err != nil {
		return nil, wrapDBError("get", path, err)
	}
	return s.open("get", r)
}

// getMany reads the valid paths in one query; an invalid path, a missing row or a row that fails to open is that
// path's error only, a failed query every path's.
func (s *sealedStore) getMany(ctx context.Context, paths []string) map[string]Result {
	out := make(map[string]Result, len(paths))
	valid := make([]string, 0, len(paths))
	for _, p := range paths {
		if err := ValidatePath(p); err != nil {
			out[p] = Result{Err: err}
			continue
		}
		valid = append(valid, p)
	}
	if len(valid) == 0 {
		return out
	}
	rows, err := s.rows.GetSealedMany(ctx, valid)
	if err != nil {
		for _, p := range valid {
			out[p] = Result{Err: wrapDBError("get", p, err)}
		}
		return out
	}
	for _, r := range rows {
		data, err := s.open("get", r)
		out[r.Path] = Result{Data: data, Err: err}
	}
	for _, p := range valid {
		if _, ok := out[p]; !ok {
			out[p] = Result{Err: fmt.Errorf("secrets: get %q: %w", p, ErrNotFound)}
		}
	}
	return out
}

// open authenticates and decodes a row read from path r.Path.
func (s *sealedStore) open(op string, r store.SealedSecret) (map[string]string, error) {
	path := r.Path
	if r.KeyID != s.keyID {
		return nil, fmt.Errorf("secrets: %s %q: %w (row key id %s, configured key id %s)", op, path, ErrKeyMismatch, r.KeyID, s.keyID)
	}
	if len(r.Nonce) != s.aead.NonceSize() {
		return nil, fmt.Errorf("secrets: %s %q: %w: nonce is %d bytes", op, path, ErrTampered, len(r.Nonce))
	}
	plain, err := s.aead.Open(nil, r.Nonce, r.Ciphertext, []byte(aadPrefix+path))
	if err != nil {
		return nil, fmt.Errorf("secrets: %s %q: %w: the row was modified or copied from another path", op, path, ErrTampered)
	}
	var data map[string]string
	if err := json.Unmarshal(plain, &data); err != nil {
		return nil, fmt.Errorf("secrets: %s %q: sealed content is not a key/value map", op, path)
	}
	return data, nil
}

func (s *sealedStore) Put(ctx context.Context, path string, data map[string]string) error {
	r, err := s.seal("put", path, data)
	if err != nil {
		return err
	}
	if err := s.rows.PutSealed(ctx, r); err != nil {
		return wrapDBError("put", path, err)
	}
	return nil
}

func (s *sealedStore) CreateIfAbsent(ctx context.Context, path string, data map[string]string) (map[string]string, bool, error) {
	r, err := s.seal("create", path, data)
	if err != nil {
		return nil, false, err
	}
	stored, created, err := s.rows.CreateSealed(ctx, r)
	if err != nil {
		return nil, false, wrapDBError("create", path, err)
	}
	if created {
		return copyMap(data), true, nil
	}
	got, err := s.open("create", stored)
	return got, false, err
}

// seal validates path and seals data for it under a fresh random nonce.
func (s *sealedStore) seal(op, path string, data map[string]string) (store.SealedSecret, error) {
	if err := ValidatePath(path); err != nil {
		return store.SealedSecret{}, err
	}
	if data == nil {
		data = map[string]string{}
	}
	plain, err := json.Marshal(data)
	if err != nil {
		return store.SealedSecret{}, fmt.Errorf("secrets: %s %q: encode: %w", op, path, err)
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return store.SealedSecret{}, fmt.Errorf("secrets: %s %q: nonce: %w", op, path, err)
	}
	return store.SealedSecret{Path: path, Nonce: nonce, Ciphertext: s.aead.Seal(nil, nonce, plain, []byte(aadPrefix+path)),
		KeyID: s.keyID}, nil
}

func (s *sealedStore) Delete(ctx context.Context, path string) error {
	if err := ValidatePath(path); err != nil {
		return err
	}
	if err := s.rows.DeleteSealed(ctx, path); err != nil {
		return wrapDBError("delete", path, err)
	}
	return nil
}

func (s *sealedStore) DeletePrefix(ctx context.Context, prefix string) error {
	if err := ValidatePrefix(prefix); err != nil {
		return err
	}
	if err := s.rows.DeleteSealedPrefix(ctx, prefix); err != nil {
		return wrapDBError("delete prefix", prefix, err)
	}
	return nil
}

// Close does nothing: the store belongs to the caller.
func (s *sealedStore) Close() {}

// wrapDBError adds the operation and path; the store's errors already say what to do (e.g. a missing table:
// run the migrations).
func wrapDBError(op, path string, err error) error {
	if path == "" {
		return fmt.Errorf("secrets: %s: %w", op, err)
	}
	return fmt.Errorf("secrets: %s %q: %w", op, path, err)
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
