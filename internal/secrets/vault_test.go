package secrets

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/vault/api"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/secrets/vaulttest"
)

var longLived = vaulttest.TokenSpec{TTL: time.Hour, MaxTTL: time.Hour, Renewable: true}

func TestVaultRoundTrip(t *testing.T) {
	ctx := context.Background()
	env := newVaultEnv(t, AuthToken, vaulttest.TokenSpec{})
	st := env.open(t)
	tenant := uuid.NewString()
	p := devicePath(t, tenant)

	_, err := st.Get(ctx, p)
	require.ErrorIs(t, err, ErrNotFound)

	first := map[string]string{KeyAMTPassword: "Amt-Pass1!", KeyCIRAUsername: "admin", KeyCIRAPassword: "Cira-Pw1!"}
	require.NoError(t, st.Put(ctx, p, first))
	got, err := st.Get(ctx, p)
	require.NoError(t, err)
	require.Equal(t, first, got)
	stored, ok := env.srv.Secret("secret", "dm-manager/"+p)
	require.True(t, ok, "KV v2 path is <mount>/data/<prefix>/<path>")
	require.Equal(t, "Amt-Pass1!", stored[KeyAMTPassword])

	second := map[string]string{KeyAMTPassword: "Amt-Pass2!"}
	require.NoError(t, st.Put(ctx, p, second))
	got, err = st.Get(ctx, p)
	require.NoError(t, err)
	require.Equal(t, second, got, "the current version replaces the whole map")

	require.NoError(t, st.Delete(ctx, p))
	_, ok = env.srv.Secret("secret", "dm-manager/"+p)
	require.False(t, ok, "metadata delete removes every version")
	_, err = st.Get(ctx, p)
	require.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, st.Delete(ctx, p), "deleting a missing path is not an error")

	// A value written by someone else that is not a string is reported, by key name only.
	raw, err := api.NewClient(&api.Config{Address: env.srv.URL})
	require.NoError(t, err)
	raw.SetToken(env.opts.VaultToken)
	_, err = raw.Logical().Write("secret/data/dm-manager/gateway/ca", map[string]any{"data": map[string]any{"serial": 7}})
	require.NoError(t, err)
	_, err = st.Get(ctx, GatewayCA())
	require.ErrorContains(t, err, `key "serial" holds a json.Number, not a string`)

	require.ErrorIs(t, st.Put(ctx, "tenants/"+tenant+"/../x", first), ErrInvalidPath)
	_, err = st.Get(ctx, "tenants/ACME/amt-password")
	require.ErrorIs(t, err, ErrInvalidPath)
}

func TestVaultDeletePrefix(t *testing.T) {
	ctx := context.Background()
	env := newVaultEnv(t, AuthToken, vaulttest.TokenSpec{})
	st := env.open(t)
	gone, kept := uuid.NewString(), uuid.NewString()
	var gonePaths, keptPaths []string
	for _, tenant := range []string{gone, kept} {
		pw, _ := TenantAMTPassword(tenant)
		dom, _ := Domain(tenant, "corp")
		paths := []string{pw, dom, devicePath(t, tenant), devicePath(t, tenant)}
		for _, p := range paths {
			require.NoError(t, st.Put(ctx, p, map[string]string{"k": "v"}))
		}
		if tenant == gone {
			gonePaths = paths
		} else {
			keptPaths = paths
		}
	}
	pfx, _ := TenantPrefix(gone)
	require.NoError(t, st.DeletePrefix(ctx, pfx))
	for _, p := range gonePaths {
		_, ok := env.srv.Secret("secret", "dm-manager/"+p)
		require.False(t, ok, p)
	}
	for _, p := range keptPaths {
		_, ok := env.srv.Secret("secret", "dm-manager/"+p)
		require.True(t, ok, p)
	}
	require.NoError(t, st.DeletePrefix(ctx, pfx), "an empty folder lists as 404: nothing to do")
	require.ErrorIs(t, st.DeletePrefix(ctx, "tenants/"+gone), ErrInvalidPath)
}

func TestVaultAuthMethods(t *testing.T) {
	for _, auth := range []string{AuthToken, AuthAppRole, AuthKubernetes} {
		t.Run(auth, func(t *testing.T) {
			ctx := context.Background()
			env := newVaultEnv(t, auth, longLived)
			st := env.open(t)
			p := devicePath(t, uuid.NewString())
			require.NoError(t, st.Put(ctx, p, map[string]string{KeyAMTPassword: "x"}))
			got, err := st.Get(ctx, p)
			require.NoError(t, err)
			require.Equal(t, "x", got[KeyAMTPassword])
			s := env.srv.Stats()
			switch auth {
			case AuthToken:
				require.Equal(t, 1, s.Lookups, "a static token is checked with lookup-self")
				require.Zero(t, env.logins())
			case AuthAppRole:
				require.Equal(t, 1, s.AppRoleLogins)
			case AuthKubernetes:
				require.Equal(t, 1, s.KubernetesLogins)
			}
			require.Zero(t, s.Denied)
		})
	}
}

func TestVaultBadCredentials(t *testing.T) {
	tests := []struct {
		auth  string
		spoil func(*Options)
		want  string
	}{
		{AuthToken, func(o *Options) { o.VaultToken = "hvs.unknown" }, "VAULT_TOKEN was rejected (permission denied)"},
		{AuthAppRole, func(o *Options) { o.VaultSecretID = "wrong-secret-id" }, "approle login: HTTP 400: invalid role or secret ID"},
		{AuthKubernetes, func(o *Options) { o.VaultRole = "other" }, `kubernetes login: HTTP 400: invalid role name "other"`},
		{AuthKubernetes, func(o *Options) { require.NoError(t, os.WriteFile(o.VaultK8sTokenPath, []byte("stale-jwt"), 0o600)) },
			"kubernetes login: HTTP 403: permission denied"},
		{AuthKubernetes, func(o *Options) { o.VaultK8sTokenPath += ".missing" }, "read -vaultK8sTokenPath"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			env := newVaultEnv(t, tc.auth, longLived)
			tc.spoil(&env.opts)
			_, err := Open(context.Background(), env.opts, nil, zerolog.New(env.logs))
			require.ErrorContains(t, err, tc.want)
			for _, secret := range []string{"hvs.unknown", "wrong-secret-id", "stale-jwt", testSecretID, testJWT} {
				require.NotContains(t, err.Error(), secret)
			}
		})
	}
}

// EMF: TTL = max TTL, so renewal cannot extend the token. The keeper must log in again before it expires, and no
// call may meet an expired token (the stand-in counts every 403).
func TestVaultReloginBeforeExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		auth string
		spec vaulttest.TokenSpec
	}{
		{"approle renewable, max TTL = TTL", AuthAppRole, vaulttest.TokenSpec{TTL: 3 * time.Second, MaxTTL: 3 * time.Second, Renewable: true}},
		{"kubernetes not renewable", AuthKubernetes, vaulttest.TokenSpec{TTL: 3 * time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newVaultEnv(t, tc.auth, tc.spec)
			st := env.open(t)
			start := time.Now()
			// Three logins: the first token has expired by the time the third is issued.
			calls, errs := env.exerciseUntil(t, st, devicePath(t, uuid.NewString()),
				func(s vaulttest.Stats) bool { return s.AppRoleLogins+s.KubernetesLogins >= 3 })
			require.Empty(t, errs)
			require.Greater(t, time.Since(start), tc.spec.TTL, "the run outlived the first token")
			s := env.srv.Stats()
			require.Zero(t, s.Denied, "no call met an expired token")
			if tc.spec.Renewable {
				require.Positive(t, s.CappedRenewals, "renewal was tried and capped by the max TTL")
			} else {
				require.Zero(t, s.Renewals, "a non-renewable token is replaced, not renewed")
			}
			require.Contains(t, env.logs.String(), `"reason":"token near expiry"`)
			t.Logf("%d round trips over %s, stats %+v", calls, time.Since(start).Round(time.Millisecond), s)
		})
	}
}

func TestVaultRenewsRenewableToken(t *testing.T) {
	t.Parallel()
	env := newVaultEnv(t, AuthToken, vaulttest.TokenSpec{TTL: 3 * time.Second, MaxTTL: time.Minute, Renewable: true})
	st := env.open(t)
	start := time.Now()
	calls, errs := env.exerciseUntil(t, st, devicePath(t, uuid.NewString()),
		func(s vaulttest.Stats) bool { return s.Renewals >= 2 })
	require.Empty(t, errs)
	require.Greater(t, time.Since(start), 3*time.Second, "the token outlived its first TTL")
	s := env.srv.Stats()
	require.Zero(t, s.Denied)
	require.Zero(t, s.CappedRenewals)
	require.Len(t, env.srv.IssuedTokens(), 1, "the same token, renewed")
	t.Logf("%d round trips, stats %+v", calls, s)
}

func TestVaultReloginOnDenied(t *testing.T) {
	ctx := context.Background()
	env := newVaultEnv(t, AuthAppRole, longLived)
	st := env.open(t)
	p := devicePath(t, uuid.NewString())
	require.NoError(t, st.Put(ctx, p, map[string]string{KeyAMTPassword: "x"}))

	env.srv.RevokeAll()
	const callers = 8
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			_, err := st.Get(ctx, p)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	s := env.srv.Stats()
	require.Equal(t, 2, s.AppRoleLogins, "concurrent 403s share one new login")
	require.Positive(t, s.Denied)
	require.Contains(t, env.logs.String(), `"reason":"permission denied"`)
}

func TestVaultKubernetesTokenFileReread(t *testing.T) {
	ctx := context.Background()
	env := newVaultEnv(t, AuthKubernetes, longLived)
	st := env.open(t)
	p := devicePath(t, uuid.NewString())
	require.NoError(t, st.Put(ctx, p, map[string]string{KeyAMTPassword: "x"}))

	// The kubelet rotates the projected token; the old one stops working.
	env.srv.SetKubernetesJWTs(testK8sRole, "rotated-jwt")
	require.NoError(t, os.WriteFile(env.opts.VaultK8sTokenPath, []byte("rotated-jwt"), 0o600))
	env.srv.RevokeAll()
	_, err := st.Get(ctx, p)
	require.NoError(t, err)
	require.Equal(t, 2, env.srv.Stats().KubernetesLogins)
}

func TestVaultStaticTokenDenied(t *testing.T) {
	ctx := context.Background()
	env := newVaultEnv(t, AuthToken, longLived)
	st := env.open(t)
	env.srv.RevokeAll()
	p := devicePath(t, uuid.NewString())
	_, err := st.Get(ctx, p)
	require.ErrorIs(t, err, ErrPermissionDenied)
	require.ErrorContains(t, err, p)
	require.ErrorContains(t, err, "VAULT_TOKEN is expired, revoked")
	require.Equal(t, 1, env.srv.Stats().Denied, "a static token cannot log in again: no retry")
}

// Secret values, tokens and login credentials never reach the log or an error, across logins, renewals, capped
// renewals, re-logins after a 403 and failed calls.
func TestVaultNeverLogsSecrets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := newVaultEnv(t, AuthAppRole, vaulttest.TokenSpec{TTL: 2 * time.Second, MaxTTL: 2 * time.Second, Renewable: true})
	st := env.open(t)
	p := devicePath(t, uuid.NewString())
	_, errs := env.exerciseUntil(t, st, p, func(s vaulttest.Stats) bool { return s.AppRoleLogins >= 2 })
	require.Empty(t, errs)
	// Revoked while the keeper may still be installing its new token: the call retries with that token, then logs
	// in itself.
	env.srv.RevokeAll()
	values := []string{"Sup3r-Secret-Amt!", "Mebx-Secret-9!", "cira-secret-pw"}
	require.NoError(t, st.Put(ctx, p, map[string]string{KeyAMTPassword: values[0], KeyMEBxPassword: values[1], KeyCIRAPassword: values[2]}))

	var callErrs []string
	bad := env.opts
	bad.VaultKVMount = "nomount"
	other, err := Open(ctx, bad, nil, zerolog.New(env.logs).Level(zerolog.DebugLevel))
	require.NoError(t, err)
	defer other.Close()
	err = other.Put(ctx, p, map[string]string{KeyAMTPassword: values[0]})
	require.ErrorContains(t, err, "HTTP 404")
	callErrs = append(callErrs, err.Error())

	logs := env.logs.String()
	require.Contains(t, logs, `"message":"vault login"`)
	require.Contains(t, logs, "renewal capped")
	require.Contains(t, logs, "logging in again and retrying")
	forbidden := append(append([]string{testSecretID, testRoleID}, values...), env.srv.IssuedTokens()...)
	require.GreaterOrEqual(t, len(env.srv.IssuedTokens()), 3)
	for _, s := range forbidden {
		require.NotContains(t, logs, s)
		require.NotContains(t, strings.Join(callErrs, "\n"), s)
	}
}
