-- Secrets of the embedded backend (internal/secrets, -secretsBackend embedded): one row per secret path, its
-- key/value map sealed with AES-256-GCM; the path is bound as additional data, key_id names the sealing key
-- (first 8 bytes of its SHA-256, hex) so a wrong key is reported as such.
CREATE TABLE IF NOT EXISTS sealed_secrets (
    path       text PRIMARY KEY,
    nonce      bytea NOT NULL CHECK (octet_length(nonce) = 12),
    ciphertext bytea NOT NULL,
    key_id     text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
