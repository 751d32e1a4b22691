package auth_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/auth"
	"github.com/dmrm/dm-manager/internal/auth/authtest"
)

// FuzzVerify: whatever arrives as a bearer token, Verify never panics and never accepts it unless it is a token
// signed with the secret.
func FuzzVerify(f *testing.F) {
	f.Add(authtest.HS256(f, authtest.Claims(tenantA+"_en-agent-rw")))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Add("")
	v, err := auth.NewVerifier(auth.Config{SharedSecret: authtest.Secret})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := v.Verify(context.Background(), tok)
		if err != nil {
			require.ErrorIs(t, err, auth.ErrUnauthenticated)
			return
		}
		require.NotNil(t, c)
	})
}

// FuzzTenantFromRoles: the result is either a canonical UUID or an ErrForbidden.
func FuzzTenantFromRoles(f *testing.F) {
	f.Add(tenantA+"_en-agent-rw", tenantB+"_en-agent-rw")
	f.Add("x_en-agent-rw", "_en-agent-rw")
	f.Fuzz(func(t *testing.T, a, b string) {
		got, err := auth.TenantFromRoles([]string{a, b}, auth.RoleENAgentRW)
		if err != nil {
			require.ErrorIs(t, err, auth.ErrForbidden)
			return
		}
		require.Len(t, got, 36)
	})
}
