package secrets

import (
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func vaultOptions(auth string) Options {
	return Options{
		Backend: BackendVault, VaultAddress: "http://127.0.0.1:8200", VaultAuth: auth, VaultKVMount: "secret",
		VaultPathPrefix: "dm-manager", VaultRole: "orch-svc", VaultK8sTokenPath: "/var/run/token",
		VaultToken: "tok-value", VaultRoleID: "role-value", VaultSecretID: "secret-id-value",
	}
}

func TestOptionsValidate(t *testing.T) {
	with := func(o Options, f func(*Options)) Options { f(&o); return o }
	tests := []struct {
		name string
		opts Options
		err  string
	}{
		{"embedded key", Options{Backend: BackendEmbedded, Key: "k"}, ""},
		{"embedded file", Options{Backend: BackendEmbedded, KeyFile: "/k"}, ""},
		{"embedded neither", Options{Backend: BackendEmbedded}, "exactly one of -secretsKeyFile or DM_SECRETS_KEY"},
		{"embedded both", Options{Backend: BackendEmbedded, Key: "k", KeyFile: "/k"}, "exactly one of"},
		{"unknown backend", Options{Backend: "file"}, `-secretsBackend "file" is not one of`},
		{"vault token", vaultOptions(AuthToken), ""},
		{"vault approle", vaultOptions(AuthAppRole), ""},
		{"vault kubernetes", vaultOptions(AuthKubernetes), ""},
		{"no prefix", with(vaultOptions(AuthToken), func(o *Options) { o.VaultPathPrefix = "" }), ""},
		{"nested prefix", with(vaultOptions(AuthToken), func(o *Options) { o.VaultPathPrefix = "edge/dm" }), ""},
		{"no address", with(vaultOptions(AuthToken), func(o *Options) { o.VaultAddress = "" }), "-vaultAddress (or VAULT_ADDR)"},
		{"bad mount", with(vaultOptions(AuthToken), func(o *Options) { o.VaultKVMount = "a/b" }), "-vaultKVMount"},
		{"bad prefix", with(vaultOptions(AuthToken), func(o *Options) { o.VaultPathPrefix = "../x" }), "-vaultPathPrefix"},
		{"no token", with(vaultOptions(AuthToken), func(o *Options) { o.VaultToken = "" }), "needs VAULT_TOKEN"},
		{"no secret id", with(vaultOptions(AuthAppRole), func(o *Options) { o.VaultSecretID = "" }), "VAULT_SECRET_ID"},
		{"no role", with(vaultOptions(AuthKubernetes), func(o *Options) { o.VaultRole = "" }), "-vaultRole"},
		{"unknown auth", with(vaultOptions(AuthToken), func(o *Options) { o.VaultAuth = "ldap" }), `-vaultAuth "ldap"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
}

func TestOptionsStringRedacts(t *testing.T) {
	v := fmt.Sprint(vaultOptions(AuthAppRole))
	require.Contains(t, v, "vaultAuth=approle")
	require.Contains(t, v, "VAULT_SECRET_ID=<set>")
	for _, secret := range []string{"tok-value", "role-value", "secret-id-value"} {
		require.NotContains(t, v, secret)
	}
	e := fmt.Sprint(Options{Backend: BackendEmbedded, Key: "key-material"})
	require.Contains(t, e, "DM_SECRETS_KEY=<set>")
	require.NotContains(t, e, "key-material")
}

func TestKeyID(t *testing.T) {
	id := keyID(testKey)
	require.Len(t, id, 16)
	require.NotEqual(t, id, keyID(make([]byte, KeySize)))
	require.Regexp(t, `^[0-9a-f]{16}$`, id)
}

func FuzzParseKey(f *testing.F) {
	f.Add(base64.StdEncoding.EncodeToString(testKey))
	f.Add("  " + base64.StdEncoding.EncodeToString(testKey) + "\n")
	f.Add("not base64")
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		key, err := parseKey(text, "fuzz")
		if err != nil {
			// Fixed texts only: the key text is never echoed.
			require.Regexp(t, `^secrets: fuzz (is not valid base64 \(want base64 of 32 random bytes\)|decodes to \d+ bytes, want 32)$`, err.Error())
			return
		}
		require.Len(t, key, KeySize)
	})
}
