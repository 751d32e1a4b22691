package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/auth"
	"github.com/dmrm/dm-manager/internal/auth/authtest"
)

func TestTimeClaims(t *testing.T) {
	v, err := auth.NewVerifier(auth.Config{SharedSecret: authtest.Secret})
	require.NoError(t, err)
	now := time.Now()
	at := func(iat, exp time.Time) jwt.MapClaims {
		c := authtest.Claims()
		c["iat"], c["exp"] = iat.Unix(), exp.Unix()
		return c
	}
	tests := []struct {
		name    string
		claims  jwt.MapClaims
		wantErr string
	}{
		{"iat now", at(now, now.Add(time.Hour)), ""},
		{"iat within the clock skew", at(now.Add(10*time.Second), now.Add(time.Hour)), ""},
		{"iat in the future", at(now.Add(time.Hour), now.Add(2*time.Hour)), "token issued in the future"},
		{"iat a minute ahead", at(now.Add(time.Minute), now.Add(time.Hour)), "token issued in the future"},
		{"lifetime 23h", at(now, now.Add(23*time.Hour)), ""},
		{"lifetime 25h", at(now.Add(-time.Hour), now.Add(24*time.Hour)), "token lifetime 25h0m0s exceeds the maximum of 24h0m0s"},
		{"no iat, valid for 48h", withClaim(authtest.Claims(), "exp", now.Add(48*time.Hour).Unix()), "exceeds the maximum"},
		{"no iat, valid for 1h", authtest.Claims(), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), authtest.HS256(t, tc.claims))
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, auth.ErrUnauthenticated)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}

	short, err := auth.NewVerifier(auth.Config{SharedSecret: authtest.Secret, MaxTokenLifetime: 10 * time.Minute})
	require.NoError(t, err)
	_, err = short.Verify(context.Background(), authtest.HS256(t, at(now, now.Add(time.Hour))))
	require.ErrorContains(t, err, "exceeds the maximum of 10m0s")
}

func TestIssuerChecked(t *testing.T) {
	for _, announce := range []string{"", "https://keycloak.example.com/realms/master"} {
		t.Run("announced "+announce, func(t *testing.T) {
			iss := authtest.NewIssuer(t)
			iss.Announce = announce
			v, err := auth.NewVerifier(auth.Config{SharedSecret: authtest.Secret, OIDCServerURL: iss.URL() + "/"})
			require.NoError(t, err)
			rs := func(issuer any) string {
				c := authtest.Claims()
				if issuer == nil {
					delete(c, "iss")
				} else {
					c["iss"] = issuer
				}
				return iss.Sign(t, jwt.SigningMethodRS256, "k1", c)
			}
			tests := []struct {
				name    string
				token   string
				wantErr string
			}{
				{"the issuer's URL", rs(iss.URL()), ""},
				{"with a trailing slash", rs(iss.URL() + "/"), ""},
				{"another realm", rs(iss.URL() + "/realms/other"), "is not the OIDC server"},
				{"another server", rs("https://evil.example.com/realms/master"), "is not the OIDC server"},
				{"no issuer", rs(nil), "is not the OIDC server"},
				{"HS token: the secret's holder is the issuer", authtest.HS256(t, authtest.Claims()), ""},
			}
			if announce != "" {
				tests = append(tests, struct{ name, token, wantErr string }{"the announced issuer", rs(announce), ""})
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					_, err := v.Verify(context.Background(), tc.token)
					if tc.wantErr == "" {
						require.NoError(t, err)
						return
					}
					require.ErrorIs(t, err, auth.ErrUnauthenticated)
					require.ErrorContains(t, err, tc.wantErr)
				})
			}
		})
	}
}
