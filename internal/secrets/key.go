package secrets

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the embedded store's AES-256 key length in bytes.
const KeySize = 32

// EnsureKeyFile writes a fresh random key (base64, mode 0600) to path unless a file already exists there. It is
// meant for `make demo` and single-node installs; it never overwrites, so data sealed under an existing key stays
// readable. created reports whether a new key was written.
func EnsureKeyFile(path string) (created bool, err error) {
	if _, err := os.Stat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("secrets key file %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, fmt.Errorf("secrets key file %s: create directory: %w", path, err)
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return false, fmt.Errorf("secrets key file %s: generate key: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) //nolint:gosec // G304: operator-chosen path (-secretsKeyFile)
	if errors.Is(err, fs.ErrExist) {
		return false, nil // another process created it between Stat and here; keep theirs
	}
	if err != nil {
		return false, fmt.Errorf("secrets key file %s: %w", path, err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(path)
		return false, fmt.Errorf("secrets key file %s: write: %w", path, werr)
	}
	return true, nil
}

// loadKey reads the key from the key file (-secretsKeyFile) or else the base64 value (DM_SECRETS_KEY); Options.Validate
// has made sure exactly one is set.
func loadKey(file, b64 string) ([]byte, error) {
	if file == "" {
		return parseKey(b64, "DM_SECRETS_KEY")
	}
	raw, err := os.ReadFile(file) //nolint:gosec // G304: operator-chosen path (-secretsKeyFile)
	if err != nil {
		return nil, fmt.Errorf("secrets: read -secretsKeyFile: %w", err)
	}
	return parseKey(string(raw), "-secretsKeyFile "+file)
}

// parseKey decodes base64 key text; errors name the source but never echo the text.
func parseKey(text, source string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil {
		return nil, fmt.Errorf("secrets: %s is not valid base64 (want base64 of %d random bytes)", source, KeySize)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("secrets: %s decodes to %d bytes, want %d", source, len(key), KeySize)
	}
	return key, nil
}

// keyID names a key without revealing it: the first 8 bytes of its SHA-256, in hex.
func keyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}
