// Package authtest mints real signed tokens for tests: HS256 with a shared secret, and RS256/PS256 from an
// in-test OIDC issuer that serves discovery and a JWKS over httptest.
package authtest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

// Secret is the HS256 key tests use (EMF's inventory tests export theirs as SHARED_SECRET_KEY the same way).
const Secret = "dm-manager-test-secret"

// ENRoles returns the roles Keycloak gives a node agent of each project.
func ENRoles(tenants ...string) []string {
	roles := []string{"default-roles-master", "rs-access-r"}
	for _, t := range tenants {
		roles = append(roles, t+"_en-agent-rw")
	}
	return roles
}

// DefaultIssuer is the iss of Claims; Issuer.Sign replaces it with the issuer's own URL.
const DefaultIssuer = "https://keycloak.test/realms/master"

// Claims returns Keycloak-shaped claims with realm roles, valid for an hour.
func Claims(roles ...string) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":          DefaultIssuer,
		"sub":          "test-subject",
		"exp":          time.Now().Add(time.Hour).Unix(),
		"typ":          "Bearer",
		"realm_access": map[string]any{"roles": roles},
	}
}

// HS256 signs claims with Secret.
func HS256(t testing.TB, claims jwt.Claims) string {
	t.Helper()
	s, err := SignHS256(claims)
	require.NoError(t, err)
	return s
}

// SignHS256 signs claims with Secret, for harnesses outside a test (test/load/serverun).
func SignHS256(claims jwt.Claims) (string, error) {
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(Secret))
}

// Issuer is an OIDC server for tests: /.well-known/openid-configuration and /jwks over httptest.
type Issuer struct {
	Server *httptest.Server
	// JWKSFetches counts requests to the JWKS endpoint.
	JWKSFetches atomic.Int64
	// Announce, when set before the first discovery request, is the issuer the discovery document names
	// instead of URL (as Keycloak reached at an in-cluster address announces its public URL).
	Announce string

	mu   sync.Mutex
	keys map[string]*rsa.PrivateKey
}

// NewIssuer starts an issuer with one RSA key under kid "k1".
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	iss := &Issuer{keys: map[string]*rsa.PrivateKey{}}
	iss.AddKey(t, "k1")
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		announced := iss.URL()
		if iss.Announce != "" {
			announced = iss.Announce
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": announced, "jwks_uri": iss.URL() + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		iss.JWKSFetches.Add(1)
		_ = json.NewEncoder(w).Encode(iss.jwks())
	})
	iss.Server = httptest.NewServer(mux)
	t.Cleanup(iss.Server.Close)
	return iss
}

// URL is the issuer base URL (what OIDC_SERVER_URL holds).
func (i *Issuer) URL() string { return i.Server.URL }

// AddKey adds (rotates in) a new RSA key under kid.
func (i *Issuer) AddKey(t testing.TB, kid string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys[kid] = k
}

// Sign signs claims with the key under kid using method (jwt.SigningMethodRS256, jwt.SigningMethodPS256...).
// MapClaims whose iss is DefaultIssuer are issued by this issuer: iss becomes URL (or Announce when set).
func (i *Issuer) Sign(t testing.TB, method jwt.SigningMethod, kid string, claims jwt.Claims) string {
	t.Helper()
	if mc, ok := claims.(jwt.MapClaims); ok && mc["iss"] == DefaultIssuer {
		own := jwt.MapClaims{}
		for k, v := range mc {
			own[k] = v
		}
		own["iss"] = i.URL()
		if i.Announce != "" {
			own["iss"] = i.Announce
		}
		claims = own
	}
	i.mu.Lock()
	k := i.keys[kid]
	i.mu.Unlock()
	require.NotNil(t, k, "no key %q", kid)
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(k)
	require.NoError(t, err)
	return s
}

func (i *Issuer) jwks() map[string]any {
	i.mu.Lock()
	defer i.mu.Unlock()
	keys := make([]map[string]string, 0, len(i.keys))
	for kid, k := range i.keys {
		keys = append(keys, map[string]string{
			"kid": kid, "kty": "RSA", "use": "sig", "alg": "RS256",
			"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes()),
		})
	}
	return map[string]any{"keys": keys}
}
