package secrets

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
)

// KeySize is the embedded store's AES-256 key length in bytes.
const KeySize = 32

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
