package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/auth"
	"github.com/dmrm/dm-manager/internal/auth/authtest"
)

const tenantA = "11111111-1111-1111-1111-111111111111"

func withClaim(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	c[k] = v
	return c
}

func without(c jwt.MapClaims, k string) jwt.MapClaims {
	delete(c, k)
	return c
}

func TestVerifyHS256(t *testing.T) {
	v, err := auth.NewVerifier(auth.Config{SharedSecret: authtest.Secret})
	require.NoError(t, err)
	other := func(c jwt.Claims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte("another-secret"))
		require.NoError(t, err)
		return s
	}
	none := func(c jwt.Claims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
		require.NoError(t, err)
		return s
	}
	hour := time.Hour
	tests := []struct {
		name    string
		token   string
		wantErr string
	}{
		{"valid", authtest.HS256(t, authtest.Claims(tenantA+"_en-agent-rw")), ""},
		{"empty", "", "no bearer token"},
		{"garbage", "not.a.jwt", "malformed token"},
		{"expired", authtest.HS256(t, withClaim(authtest.Claims(), "exp", time.Now().Add(-hour).Unix())), "token expired"},
		{"not yet valid", authtest.HS256(t, withClaim(authtest.Claims(), "nbf", time.Now().Add(hour).Unix())), "token not valid yet"},
		{"no exp", authtest.HS256(t, without(authtest.Claims(), "exp")), "token has no expiry"},
		{"wrong secret", other(authtest.Claims()), "token signature is invalid"},
		{"alg none", none(authtest.Claims()), "signing method none is invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), tc.token)
			if tc.wantErr == "" {
				require.NoError(t, err)
				require.Equal(t, "test-subject", c.Subject)
				require.NoError(t, c.Authorize(context.Background(), tenantA, auth.AccessAgent))
				return
			}
			require.ErrorIs(t, err, auth.ErrUnauthenticated)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestVerifyRSAFromJWKS(t *testing.T) {
	iss := authtest.NewIssuer(t)
	v, err := auth.NewVerifier(auth.Config{OIDCServerURL: iss.URL(), MinRefreshInterval: time.Hour})
	require.NoError(t, err)
	ctx := context.Background()

	for _, m := range []jwt.SigningMethod{jwt.SigningMethodRS256, jwt.SigningMethodPS256} {
		c, err := v.Verify(ctx, iss.Sign(t, m, "k1", authtest.Claims(tenantA+"_im-rw")))
		require.NoError(t, err, m.Alg())
		require.NoError(t, c.Authorize(context.Background(), tenantA, auth.AccessWrite))
	}
	require.EqualValues(t, 1, iss.JWKSFetches.Load(), "known kid must be served from cache")

	// A key rotated in within the refresh interval is not fetched: unknown kids cannot drive load on Keycloak.
	iss.AddKey(t, "k2")
	_, err = v.Verify(ctx, iss.Sign(t, jwt.SigningMethodRS256, "k2", authtest.Claims()))
	require.ErrorIs(t, err, auth.ErrUnauthenticated)
	require.ErrorContains(t, err, `unknown signing key "k2"`)
	require.EqualValues(t, 1, iss.JWKSFetches.Load())

	// HS tokens are refused when no shared secret is configured, even if signed with something key-like.
	_, err = v.Verify(ctx, authtest.HS256(t, authtest.Claims()))
	require.ErrorContains(t, err, "signing method HS256 is invalid")
}

func TestJWKSRefreshOnUnknownKid(t *testing.T) {
	iss := authtest.NewIssuer(t)
	v, err := auth.NewVerifier(auth.Config{OIDCServerURL: iss.URL(), MinRefreshInterval: time.Nanosecond})
	require.NoError(t, err)
	ctx := context.Background()
	_, err = v.Verify(ctx, iss.Sign(t, jwt.SigningMethodRS256, "k1", authtest.Claims()))
	require.NoError(t, err)

	iss.AddKey(t, "k2")
	_, err = v.Verify(ctx, iss.Sign(t, jwt.SigningMethodRS256, "k2", authtest.Claims()))
	require.NoError(t, err)
	require.EqualValues(t, 2, iss.JWKSFetches.Load())

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	noKid, err := jwt.NewWithClaims(jwt.SigningMethodRS256, authtest.Claims()).SignedString(key)
	require.NoError(t, err)
	_, err = v.Verify(ctx, noKid)
	require.ErrorContains(t, err, "token has no kid")
}

func TestVerifierNeedsAKeySource(t *testing.T) {
	_, err := auth.NewVerifier(auth.Config{})
	require.ErrorContains(t, err, "SHARED_SECRET_KEY")
}

func TestRolesFromRealmAndResourceAccess(t *testing.T) {
	v, err := auth.NewVerifier(auth.Config{SharedSecret: authtest.Secret})
	require.NoError(t, err)
	claims := authtest.Claims(tenantA + "_im-r")
	claims["resource_access"] = map[string]any{
		"account": map[string]any{"roles": []string{"manage-account"}},
		"dm":      map[string]any{"roles": []string{tenantA + "_im-rw", tenantA + "_im-r"}},
	}
	c, err := v.Verify(context.Background(), authtest.HS256(t, claims))
	require.NoError(t, err)
	require.Equal(t, []string{tenantA + "_im-r", "manage-account", tenantA + "_im-rw"}, c.Roles)
	require.NoError(t, c.Authorize(context.Background(), tenantA, auth.AccessWrite))
	require.ErrorIs(t, c.Authorize(context.Background(), tenantA, auth.AccessAgent), auth.ErrForbidden)
}

// A verified token is trusted again without a check only until the earlier of verifiedFor (30 s) and its expiry;
// once it has expired (beyond the leeway) it is refused however recently it passed.
func TestVerifiedTokenIsRememberedUntilItExpires(t *testing.T) {
	now := time.Now()
	v, err := auth.NewVerifier(auth.Config{SharedSecret: authtest.Secret, Leeway: -1, Now: func() time.Time { return now }})
	require.NoError(t, err)
	tok := authtest.HS256(t, withClaim(authtest.Claims(tenantA+"_im-rw"), "exp", now.Add(time.Minute).Unix()))

	first, err := v.Verify(context.Background(), tok)
	require.NoError(t, err)
	again, err := v.Verify(context.Background(), tok)
	require.NoError(t, err)
	require.Same(t, first, again, "within 30 s the verified claims are reused")

	now = now.Add(40 * time.Second)
	checked, err := v.Verify(context.Background(), tok)
	require.NoError(t, err)
	require.NotSame(t, first, checked, "after 30 s the token is checked again")

	now = now.Add(30 * time.Second)
	_, err = v.Verify(context.Background(), tok)
	require.ErrorIs(t, err, auth.ErrUnauthenticated)
	require.ErrorContains(t, err, "token expired")

	short := authtest.HS256(t, withClaim(authtest.Claims(tenantA+"_im-rw"), "exp", now.Add(10*time.Second).Unix()))
	_, err = v.Verify(context.Background(), short)
	require.NoError(t, err)
	now = now.Add(15 * time.Second)
	_, err = v.Verify(context.Background(), short)
	require.ErrorContains(t, err, "token expired", "a token is never trusted past its expiry")

	tampered := tok[:len(tok)-2] + "xx"
	_, err = v.Verify(context.Background(), tampered)
	require.ErrorIs(t, err, auth.ErrUnauthenticated)
}
