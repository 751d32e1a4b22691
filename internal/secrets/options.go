package secrets

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rs/zerolog"
)

// Backends (-secretsBackend).
const (
	BackendEmbedded = "embedded"
	BackendVault    = "vault"
)

// Vault login methods (-vaultAuth).
const (
	AuthToken      = "token"
	AuthAppRole    = "approle"
	AuthKubernetes = "kubernetes"
)

// Options mirrors the secrets flags of contracts.md; internal/config fills it.
type Options struct {
	Backend string // -secretsBackend: embedded | vault

	// Embedded backend: exactly one of these.
	KeyFile string // -secretsKeyFile: file holding base64 of 32 bytes
	Key     string // DM_SECRETS_KEY: base64 of 32 bytes

	// Vault backend.
	VaultAddress      string // -vaultAddress / VAULT_ADDR
	VaultAuth         string // -vaultAuth: token | approle | kubernetes
	VaultRole         string // -vaultRole: Kubernetes auth role (EMF orch-svc)
	VaultKVMount      string // -vaultKVMount: KV v2 mount (secret)
	VaultPathPrefix   string // -vaultPathPrefix: folder under the mount (dm-manager)
	VaultK8sTokenPath string // -vaultK8sTokenPath: service-account JWT file, re-read at every login
	VaultToken        string // VAULT_TOKEN
	VaultRoleID       string // VAULT_ROLE_ID
	VaultSecretID     string // VAULT_SECRET_ID
}

// Validate checks the options before anything connects; errors name the flag or variable to fix.
func (o Options) Validate() error {
	switch o.Backend {
	case BackendEmbedded:
		if (o.KeyFile == "") == (o.Key == "") {
			return errors.New("secrets: -secretsBackend embedded needs exactly one of -secretsKeyFile or DM_SECRETS_KEY " +
				"(base64 of 32 random bytes, e.g. `openssl rand -base64 32`)")
		}
		return nil
	case BackendVault:
		return o.validateVault()
	default:
		return fmt.Errorf("secrets: -secretsBackend %q is not one of %s, %s", o.Backend, BackendEmbedded, BackendVault)
	}
}

func (o Options) validateVault() error {
	if o.VaultAddress == "" {
		return errors.New("secrets: -secretsBackend vault needs -vaultAddress (or VAULT_ADDR)")
	}
	if err := checkSegment(o.VaultKVMount); err != nil {
		return fmt.Errorf("secrets: -vaultKVMount %q: %s", o.VaultKVMount, err)
	}
	if o.VaultPathPrefix != "" {
		if err := validateSegments(o.VaultPathPrefix, o.VaultPathPrefix); err != nil {
			return fmt.Errorf("secrets: -vaultPathPrefix: %w", err)
		}
	}
	switch o.VaultAuth {
	case AuthToken:
		if o.VaultToken == "" {
			return errors.New("secrets: -vaultAuth token needs VAULT_TOKEN")
		}
	case AuthAppRole:
		if o.VaultRoleID == "" || o.VaultSecretID == "" {
			return errors.New("secrets: -vaultAuth approle needs VAULT_ROLE_ID and VAULT_SECRET_ID")
		}
	case AuthKubernetes:
		if o.VaultRole == "" || o.VaultK8sTokenPath == "" {
			return errors.New("secrets: -vaultAuth kubernetes needs -vaultRole and -vaultK8sTokenPath")
		}
	default:
		return fmt.Errorf("secrets: -vaultAuth %q is not one of %s, %s, %s", o.VaultAuth, AuthToken, AuthAppRole, AuthKubernetes)
	}
	return nil
}

// String shows the options with every credential replaced by "<set>" so they can be logged.
func (o Options) String() string {
	set := func(s string) string {
		if s == "" {
			return `""`
		}
		return "<set>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "backend=%s", o.Backend)
	if o.Backend == BackendVault {
		fmt.Fprintf(&b, " vaultAddress=%s vaultAuth=%s vaultRole=%s vaultKVMount=%s vaultPathPrefix=%s vaultK8sTokenPath=%s",
			o.VaultAddress, o.VaultAuth, o.VaultRole, o.VaultKVMount, o.VaultPathPrefix, o.VaultK8sTokenPath)
		fmt.Fprintf(&b, " VAULT_TOKEN=%s VAULT_ROLE_ID=%s VAULT_SECRET_ID=%s",
			set(o.VaultToken), set(o.VaultRoleID), set(o.VaultSecretID))
	} else {
		fmt.Fprintf(&b, " secretsKeyFile=%s DM_SECRETS_KEY=%s", o.KeyFile, set(o.Key))
	}
	return b.String()
}

// Open validates cfg and returns the chosen backend, ready for use. The embedded backend stores rows through rows
// (the store, migrated) and fails here if the rows were sealed under another key; the Vault backend logs in here
// and keeps its token alive in the background until Close. rows may be nil for Vault.
func Open(ctx context.Context, cfg Options, rows SealedRows, log zerolog.Logger) (Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log = log.With().Str("component", "secrets").Logger()
	if cfg.Backend == BackendVault {
		return newVaultStore(ctx, cfg, log)
	}
	key, err := loadKey(cfg.KeyFile, cfg.Key)
	if err != nil {
		return nil, err
	}
	return newSealedStore(ctx, rows, key, log)
}
