package auth_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/auth"
	"github.com/dmrm/dm-manager/internal/auth/authtest"
)

// verified returns the claims of a token holding roles, as the Verifier hands them out (with the shipped policy).
func verified(t *testing.T, roles ...string) *auth.Claims {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{SharedSecret: authtest.Secret})
	require.NoError(t, err)
	c, err := v.Verify(context.Background(), authtest.HS256(t, authtest.Claims(roles...)))
	require.NoError(t, err)
	return c
}

// TestShippedPolicy is the RBAC table of dm-manager: every project role against every access, in its own project
// and in another one.
func TestShippedPolicy(t *testing.T) {
	p, err := auth.ParsePolicy(context.Background(), "authz.rego", auth.DefaultPolicy)
	require.NoError(t, err)
	grants := map[string][]auth.Access{
		"im-rw":       {auth.AccessRead, auth.AccessWrite},
		"im-r":        {auth.AccessRead},
		"en-agent-rw": {auth.AccessAgent},
		"en-ob":       nil,
		"admin":       nil,
	}
	for role, granted := range grants {
		for _, access := range []auth.Access{auth.AccessRead, auth.AccessWrite, auth.AccessAgent} {
			want := false
			for _, g := range granted {
				want = want || g == access
			}
			for _, roles := range [][]string{
				{tenantA + "_" + role},
				{strings.ToUpper(tenantA) + "_" + role, "default-roles-master"},
			} {
				got, err := p.Allows(context.Background(), access, tenantA, roles)
				require.NoError(t, err)
				require.Equal(t, want, got, "%v %s", roles, access)
				got, err = p.Allows(context.Background(), access, tenantB, roles)
				require.NoError(t, err)
				require.False(t, got, "%v must grant nothing in another project", roles)
			}
		}
	}
	got, err := p.Allows(context.Background(), auth.AccessRead, tenantA, nil)
	require.NoError(t, err)
	require.False(t, got, "no roles, no access")
}

// TestPolicyFileDecides shows -rbacRules is what answers: the same token is refused by the shipped policy and
// allowed by an operator's policy that grants im-r writes.
func TestPolicyFileDecides(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "authz.rego")
	changed := strings.Replace(auth.DefaultPolicy, `"im-r": {"read"}`, `"im-r": {"read", "write"}`, 1)
	require.NotEqual(t, auth.DefaultPolicy, changed)
	require.NoError(t, os.WriteFile(path, []byte(changed), 0o600))
	custom, err := auth.LoadPolicy(context.Background(), path)
	require.NoError(t, err)

	v, err := auth.NewVerifier(auth.Config{SharedSecret: authtest.Secret, Policy: custom})
	require.NoError(t, err)
	token := authtest.HS256(t, authtest.Claims(tenantA+"_im-r"))
	withCustom, err := v.Verify(context.Background(), token)
	require.NoError(t, err)
	require.NoError(t, withCustom.Authorize(context.Background(), tenantA, auth.AccessWrite))
	require.ErrorIs(t, verified(t, tenantA+"_im-r").Authorize(context.Background(), tenantA, auth.AccessWrite),
		auth.ErrForbidden)
}

func TestLoadPolicyErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(src), 0o600))
		return p
	}
	tests := []struct{ name, path, want string }{
		{"missing file", filepath.Join(dir, "nope.rego"), "reading the RBAC policy"},
		{"syntax error", write("bad.rego", "package dmmanager.authz\nallow if {"), "compiling the RBAC policy"},
		{"no allow rule", write("other.rego", "package other\nx := 1\n"), "does not define data.dmmanager.authz.allow"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auth.LoadPolicy(context.Background(), tc.path)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestUnverifiedClaimsAreGrantedNothing(t *testing.T) {
	c, err := auth.UnverifiedClaims(authtest.HS256(t, authtest.Claims(tenantA+"_im-rw")))
	require.NoError(t, err)
	require.ErrorIs(t, c.Authorize(context.Background(), tenantA, auth.AccessRead), auth.ErrForbidden)
}

// Decisions are cached by their whole input: a role list that differs only in how it would join gets its own.
func TestDecisionCacheKeepsInputsApart(t *testing.T) {
	p, err := auth.ParsePolicy(t.Context(), "shipped", auth.DefaultPolicy)
	require.NoError(t, err)
	const project = "4377c20d-7a0c-4c8e-9a5e-0d1f3b2a6c11"
	ok, err := p.Allows(t.Context(), auth.AccessRead, project, []string{project + "_im-r", "x"})
	require.NoError(t, err)
	require.True(t, ok)
	for _, roles := range [][]string{{project + "_im-r\x00x"}, {project + "_im-r,x"}, {}} {
		ok, err = p.Allows(t.Context(), auth.AccessRead, project, roles)
		require.NoError(t, err)
		require.False(t, ok, "%q", roles)
	}
	ok, err = p.Allows(t.Context(), auth.AccessWrite, project, []string{project + "_im-r", "x"})
	require.NoError(t, err)
	require.False(t, ok, "the cached read grant is not a write grant")
}
