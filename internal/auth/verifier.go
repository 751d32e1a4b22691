// Package auth validates the bearer JWTs that reach dm-manager (REST from EIM users, gRPC from node agents)
// and turns their Keycloak roles into a tenant and permissions (emf-conventions §5).
//
// Tokens are accepted when their signature and time claims check out: HS256/384/512 against a shared secret
// (EMF tests sign with env SHARED_SECRET_KEY) or RS*/PS* against the OIDC server's JWKS, chosen by `kid`.
// RS*/PS* tokens must name the OIDC server as issuer; an `iat` in the future and a lifetime (exp - iat) over
// MaxTokenLifetime are refused. Like EMF, the audience is not checked. Tokens never appear in logs or errors.
package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dmrm/dm-manager/internal/expiring"
)

// Environment variables read by ConfigFromEnv (the names EMF charts set).
const (
	EnvSharedSecret  = "SHARED_SECRET_KEY"
	EnvOIDCServerURL = "OIDC_SERVER_URL"
)

var (
	// ErrUnauthenticated means the caller could not be identified: no token, a malformed or expired token, a bad
	// signature or an unknown key. HTTP 401, gRPC Unauthenticated.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden means the caller is known but its roles do not allow the request. HTTP 403, gRPC PermissionDenied.
	ErrForbidden = errors.New("forbidden")
)

// errNoToken distinguishes "no credentials" from "bad credentials" (RFC 6750 §3.1: no error code in the challenge).
var errNoToken = errors.New("no bearer token")

var (
	hmacMethods = []string{"HS256", "HS384", "HS512"}
	rsaMethods  = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)

// Config selects the accepted token kinds. At least one of SharedSecret and OIDCServerURL must be set.
type Config struct {
	// SharedSecret verifies HS* tokens; empty disables them.
	SharedSecret string
	// OIDCServerURL is the issuer base URL; its /.well-known/openid-configuration names the JWKS. Empty disables RS*/PS*.
	OIDCServerURL string
	// HTTPClient fetches discovery and JWKS documents (default: 10s timeout).
	HTTPClient *http.Client
	// MinRefreshInterval bounds how often an unknown `kid` may trigger a JWKS refetch (default 30s).
	MinRefreshInterval time.Duration
	// Leeway tolerates clock skew on exp, nbf and iat (default 30s; negative means none).
	Leeway time.Duration
	// MaxTokenLifetime refuses tokens valid for longer than this from their iat (from now when they carry no
	// iat), so a leaked long-lived token cannot be used for days (default 24h; Keycloak's access tokens live
	// minutes).
	MaxTokenLifetime time.Duration
	// Now replaces the clock in tests.
	Now func() time.Time
	// Policy decides what a verified token may do (-rbacRules); nil compiles DefaultPolicy.
	Policy *Policy
}

// ConfigFromEnv reads SHARED_SECRET_KEY and OIDC_SERVER_URL. OIDC_TLS_INSECURE_SKIP_VERIFY is deliberately not
// read: EMF's own handling of it never disables TLS verification either.
func ConfigFromEnv() Config {
	return Config{
		SharedSecret:  os.Getenv(EnvSharedSecret),
		OIDCServerURL: os.Getenv(EnvOIDCServerURL),
	}
}

// Verifier checks bearer tokens. It is safe for concurrent use.
type Verifier struct {
	secret      []byte
	keys        *jwks
	parser      *jwt.Parser
	methods     map[string]bool
	leeway      time.Duration
	maxLifetime time.Duration
	now         func() time.Time
	policy      *Policy

	verified *expiring.Map[[sha256.Size]byte, *Claims] // by the token's hash; see Verify
}

// verifiedFor bounds how long a verified token is trusted without a new check: a key withdrawn from the JWKS or a
// shared secret changed with a restart stops being honoured within it. maxVerified bounds the tokens remembered.
const (
	verifiedFor = 30 * time.Second
	maxVerified = 4096
)

// NewVerifier builds a Verifier. The JWKS is fetched lazily, on the first RS*/PS* token.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.SharedSecret == "" && cfg.OIDCServerURL == "" {
		return nil, fmt.Errorf("auth: neither a shared secret (%s) nor an OIDC server URL (%s / -oidcServerURL) "+
			"is configured; set one or disable auth with -enableAuth=false", EnvSharedSecret, EnvOIDCServerURL)
	}
	policy := cfg.Policy
	if policy == nil {
		p, err := ParsePolicy(context.Background(), "default authz.rego", DefaultPolicy)
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		policy = p
	}
	v := &Verifier{methods: map[string]bool{}, policy: policy, verified: expiring.New[[sha256.Size]byte, *Claims](maxVerified)}
	var valid []string
	if cfg.SharedSecret != "" {
		v.secret = []byte(cfg.SharedSecret)
		valid = append(valid, hmacMethods...)
	}
	if cfg.OIDCServerURL != "" {
		client := cfg.HTTPClient
		if client == nil {
			client = &http.Client{Timeout: 10 * time.Second}
		}
		interval := cfg.MinRefreshInterval
		if interval <= 0 {
			interval = 30 * time.Second
		}
		v.keys = newJWKS(strings.TrimSuffix(cfg.OIDCServerURL, "/"), client, interval)
		valid = append(valid, rsaMethods...)
	}
	for _, m := range valid {
		v.methods[m] = true
	}
	v.leeway, v.maxLifetime, v.now = cfg.Leeway, cfg.MaxTokenLifetime, cfg.Now
	switch {
	case v.leeway == 0:
		v.leeway = 30 * time.Second
	case v.leeway < 0:
		v.leeway = 0
	}
	if v.maxLifetime <= 0 {
		v.maxLifetime = 24 * time.Hour
	}
	if v.now == nil {
		v.now = time.Now
	}
	v.parser = jwt.NewParser(jwt.WithValidMethods(valid), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithLeeway(v.leeway), jwt.WithTimeFunc(v.now))
	return v, nil
}

// Verify validates a raw token (without the "Bearer " prefix) and returns its claims. Every failure wraps
// ErrUnauthenticated and names the reason, never the token.
//
// A client sends the same token with every request until it expires, and parsing and checking it again is most
// of what authenticating a request costs; so a token that passed is remembered, by its SHA-256 (the token itself
// is not kept), until the earlier of its expiry and verifiedFor. The claims returned are shared: callers only read
// them.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	if raw == "" {
		return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, errNoToken)
	}
	key := sha256.Sum256([]byte(raw))
	now := v.now()
	if c, ok := v.verified.Get(key, now); ok {
		return c, nil
	}
	c, err := v.verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	until := now.Add(verifiedFor)
	if c.ExpiresAt.Before(until) {
		until = c.ExpiresAt
	}
	v.verified.Put(key, c, until)
	return c, nil
}

func (v *Verifier) verify(ctx context.Context, raw string) (*Claims, error) {
	var tc tokenClaims
	tok, err := v.parser.ParseWithClaims(raw, &tc, func(t *jwt.Token) (any, error) { return v.key(ctx, t) })
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrUnauthenticated, reason(err))
	}
	if err := v.checkLifetime(&tc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	// An HS token is signed by whoever holds the shared secret, which no iss claim can narrow; an RS/PS token
	// must come from the OIDC server whose keys verified it (another realm of the same Keycloak has other keys,
	// but a JWKS shared between issuers would not).
	if _, hmac := tok.Method.(*jwt.SigningMethodHMAC); !hmac && !v.keys.isIssuer(tc.Issuer) {
		return nil, fmt.Errorf("%w: token issuer %q is not the OIDC server (%s)", ErrUnauthenticated,
			clipClaim(tc.Issuer), v.keys.issuer)
	}
	c := tc.claims()
	c.policy = v.policy
	return c, nil
}

// checkLifetime refuses a token valid for longer than maxLifetime, counted from its iat (jwt has refused an iat
// in the future already) or, without one, from now.
func (v *Verifier) checkLifetime(tc *tokenClaims) error {
	from := v.now()
	if tc.IssuedAt != nil {
		from = tc.IssuedAt.Time
	}
	if life := tc.ExpiresAt.Sub(from); life > v.maxLifetime+v.leeway {
		return fmt.Errorf("token lifetime %s exceeds the maximum of %s; use a shorter-lived token",
			life.Round(time.Second), v.maxLifetime)
	}
	return nil
}

// clipClaim shortens a claim value for an error message.
func clipClaim(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// key picks the verification key by algorithm family, so an HS token can never be checked against a public key
// (algorithm confusion) and an RS token never against the secret.
func (v *Verifier) key(ctx context.Context, t *jwt.Token) (any, error) {
	switch t.Method.(type) {
	case *jwt.SigningMethodHMAC:
		if v.secret == nil {
			return nil, errors.New("HMAC tokens are not accepted")
		}
		return v.secret, nil
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
		if v.keys == nil {
			return nil, errors.New("RSA tokens are not accepted (no OIDC server configured)")
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("token has no kid")
		}
		return v.keys.key(ctx, kid)
	default:
		return nil, fmt.Errorf("algorithm %v is not accepted", t.Header["alg"])
	}
}

// reason turns a jwt error into a short text that is safe to return to the caller.
func reason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "token issued in the future (iat); check the clocks of the issuer and of dm-manager"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "token has no expiry"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		// These name the algorithm, kid or JWKS failure; jwt and our keyfunc put no token material in them.
		return err.Error()
	default:
		return "invalid token"
	}
}

// UnverifiedClaims reads a token's claims WITHOUT checking its signature or expiry. It exists only for
// -enableAuth=false, where EMF still takes the tenant from an agent's token roles; never use it to grant access
// when auth is on.
func UnverifiedClaims(raw string) (*Claims, error) {
	var tc tokenClaims
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &tc); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrUnauthenticated, reason(err))
	}
	return tc.claims(), nil
}
