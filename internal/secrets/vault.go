package secrets

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/api"
	"github.com/rs/zerolog"
)

// vaultStore keeps secrets in a Vault KV v2 mount: <mount>/data/<prefix>/<path> holds the current version,
// <mount>/metadata/<prefix>/<path> is deleted to remove every version and listed to walk folders
// (protocol-rps-activation §3.4). The token is kept alive by a tokenKeeper.
type vaultStore struct {
	client *api.Client
	http   *http.Client
	mount  string
	prefix string // "" or "<vaultPathPrefix>/"
	keeper *tokenKeeper
	log    zerolog.Logger
}

func newVaultStore(ctx context.Context, o Options, log zerolog.Logger) (*vaultStore, error) {
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, fmt.Errorf("secrets: vault client configuration (VAULT_* environment): %w", cfg.Error)
	}
	cfg.Address = o.VaultAddress
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("secrets: vault client for -vaultAddress %q: %w", o.VaultAddress, err)
	}
	client.ClearToken() // NewClient picks up VAULT_TOKEN from the environment; the keeper decides the token
	v := &vaultStore{client: client, http: cfg.HttpClient, mount: o.VaultKVMount, log: log}
	if o.VaultPathPrefix != "" {
		v.prefix = o.VaultPathPrefix + "/"
	}
	v.keeper, err = startTokenKeeper(ctx, client, o, log)
	if err != nil {
		v.http.CloseIdleConnections()
		return nil, err
	}
	log.Info().Str("secrets_backend", BackendVault).Str("vault_address", o.VaultAddress).Str("vault_auth", o.VaultAuth).
		Str("kv_mount", o.VaultKVMount).Str("path_prefix", o.VaultPathPrefix).Msg("secrets store ready")
	return v, nil
}

func (v *vaultStore) dataPath(p string) string     { return v.mount + "/data/" + v.prefix + p }
func (v *vaultStore) metadataPath(p string) string { return v.mount + "/metadata/" + v.prefix + p }

func (v *vaultStore) Get(ctx context.Context, path string) (map[string]string, error) {
	if err := ValidatePath(path); err != nil {
		return nil, err
	}
	s, err := v.call(ctx, "read", path, func() (*api.Secret, error) {
		return v.client.Logical().ReadWithContext(ctx, v.dataPath(path))
	})
	if err != nil {
		return nil, err
	}
	// A missing path is a 404 (nil secret); a soft-deleted latest version reads as "data": null.
	if s == nil {
		return nil, fmt.Errorf("secrets: get %q: %w", path, ErrNotFound)
	}
	raw, _ := s.Data["data"].(map[string]any)
	if raw == nil {
		return nil, fmt.Errorf("secrets: get %q: %w", path, ErrNotFound)
	}
	out := make(map[string]string, len(raw))
	for k, val := range raw {
		str, ok := val.(string)
		if !ok {
			return nil, fmt.Errorf("secrets: get %q: key %q holds a %T, not a string; rewrite the secret", path, k, val)
		}
		out[k] = str
	}
	return out, nil
}

func (v *vaultStore) Put(ctx context.Context, path string, data map[string]string) error {
	if err := ValidatePath(path); err != nil {
		return err
	}
	body := make(map[string]any, len(data))
	for k, val := range data {
		body[k] = val
	}
	_, err := v.call(ctx, "write", path, func() (*api.Secret, error) {
		return v.client.Logical().WriteWithContext(ctx, v.dataPath(path), map[string]any{"data": body})
	})
	return err
}

// CreateIfAbsent writes with options.cas = 0, which KV v2 accepts only while the path has no version; a refusal
// (HTTP 400, "check-and-set parameter did not match the current version") means another writer was first, and
// its value is read back.
func (v *vaultStore) CreateIfAbsent(ctx context.Context, path string, data map[string]string) (map[string]string, bool, error) {
	if err := ValidatePath(path); err != nil {
		return nil, false, err
	}
	body := make(map[string]any, len(data))
	for k, val := range data {
		body[k] = val
	}
	// A value deleted between our refused write and the read-back sends us round again.
	for range 3 {
		_, err := v.call(ctx, "create", path, func() (*api.Secret, error) {
			return v.client.Logical().WriteWithContext(ctx, v.dataPath(path),
				map[string]any{"options": map[string]any{"cas": 0}, "data": body})
		})
		if err == nil {
			return copyMap(data), true, nil
		}
		if !isCASMismatch(err) {
			return nil, false, err
		}
		got, err := v.Get(ctx, path)
		if !errors.Is(err, ErrNotFound) {
			return got, false, err
		}
	}
	return nil, false, fmt.Errorf("secrets: vault create %q: the path holds a version whose data is deleted "+
		"(soft delete); delete the secret's metadata or undelete it", path)
}

// errCASMismatch marks Vault's refusal of a check-and-set write (describe adds it).
var errCASMismatch = errors.New("check-and-set refused: the path already holds a version")

func isCASMismatch(err error) bool { return errors.Is(err, errCASMismatch) }

// casRefused tells Vault's answer to a check-and-set write whose version did not match.
func casRefused(re *api.ResponseError) bool {
	if re.StatusCode != http.StatusBadRequest {
		return false
	}
	for _, e := range re.Errors {
		if strings.Contains(e, "check-and-set parameter did not match the current version") {
			return true
		}
	}
	return false
}

func (v *vaultStore) Delete(ctx context.Context, path string) error {
	if err := ValidatePath(path); err != nil {
		return err
	}
	return v.delete(ctx, path)
}

func (v *vaultStore) delete(ctx context.Context, path string) error {
	_, err := v.call(ctx, "delete", path, func() (*api.Secret, error) {
		return v.client.Logical().DeleteWithContext(ctx, v.metadataPath(path))
	})
	return err
}

func (v *vaultStore) DeletePrefix(ctx context.Context, prefix string) error {
	if err := ValidatePrefix(prefix); err != nil {
		return err
	}
	return v.deleteTree(ctx, prefix)
}

// deleteTree removes every secret under folder (ending in "/"); LIST returns child names with sub-folders
// suffixed by "/", and a 404 (nil secret) for an empty or missing folder.
func (v *vaultStore) deleteTree(ctx context.Context, folder string) error {
	s, err := v.call(ctx, "list", folder, func() (*api.Secret, error) {
		return v.client.Logical().ListWithContext(ctx, v.metadataPath(folder))
	})
	if err != nil || s == nil {
		return err
	}
	keys, _ := s.Data["keys"].([]any)
	for _, k := range keys {
		name, _ := k.(string)
		switch {
		case name == "":
			return fmt.Errorf("secrets: vault list %q: unexpected entry %v", folder, k)
		case strings.HasSuffix(name, "/"):
			err = v.deleteTree(ctx, folder+name)
		default:
			err = v.delete(ctx, folder+name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Close stops the token keeper and drops idle connections. The token is left to expire on its own.
func (v *vaultStore) Close() {
	v.keeper.close()
	v.http.CloseIdleConnections()
}

// call runs one Vault request. A 403 means the token expired or was revoked under us: log in again (if the auth
// method can) and retry once, so callers never see a failure the keeper could have prevented. If another caller
// had already replaced the token, the retry uses theirs, and only if that is refused too does this call log in.
func (v *vaultStore) call(ctx context.Context, op, path string, fn func() (*api.Secret, error)) (*api.Secret, error) {
	gen := v.keeper.generation()
	s, err := fn()
	for attempt := 0; attempt < 2 && isPermissionDenied(err) && v.keeper.canLogin(); attempt++ {
		v.log.Warn().Str("op", op).Str("path", path).Msg("vault denied the call; logging in again and retrying")
		loggedIn, lerr := v.keeper.reloginAfterDenied(ctx, gen)
		if lerr != nil {
			return nil, fmt.Errorf("secrets: vault %s %q: permission denied, and logging in again failed: %w", op, path, lerr)
		}
		gen = v.keeper.generation()
		s, err = fn()
		if loggedIn {
			break
		}
	}
	if err != nil {
		return nil, v.describe(op, path, err)
	}
	return s, nil
}

// describe turns a Vault client error into one naming the operation, path and status; Vault's error texts never
// carry secret values, and request bodies are not part of the client's errors.
func (v *vaultStore) describe(op, path string, err error) error {
	var re *api.ResponseError
	if !errors.As(err, &re) {
		return fmt.Errorf("secrets: vault %s %q: %w: %w", op, path, ErrUnavailable, err)
	}
	if re.StatusCode == http.StatusForbidden {
		hint := "the login role's policy may not allow this path"
		if !v.keeper.canLogin() {
			hint = "VAULT_TOKEN is expired, revoked or its policy does not allow this path"
		}
		return fmt.Errorf("secrets: vault %s %q: %w (HTTP 403): %s", op, path, ErrPermissionDenied, hint)
	}
	if casRefused(re) {
		return fmt.Errorf("secrets: vault %s %q: %w (HTTP 400)", op, path, errCASMismatch)
	}
	return fmt.Errorf("secrets: vault %s %q: HTTP %d: %s", op, path, re.StatusCode, strings.Join(re.Errors, "; "))
}

func isPermissionDenied(err error) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusForbidden
}
