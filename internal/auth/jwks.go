package auth

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// maxDocumentBytes bounds discovery and JWKS documents; Keycloak's are a few KiB.
const maxDocumentBytes = 1 << 20

// jwks caches the OIDC server's RSA signing keys by kid. An unknown kid triggers a refetch (keys rotate), at most
// once per minInterval so a flood of tokens with made-up kids cannot turn into a flood of requests to Keycloak.
type jwks struct {
	issuer      string
	client      *http.Client
	minInterval time.Duration

	mu        sync.Mutex
	announced string // the issuer named by the discovery document
	jwksURI   string
	keys      map[string]*rsa.PublicKey
	lastFetch time.Time
}

func newJWKS(issuer string, client *http.Client, minInterval time.Duration) *jwks {
	return &jwks{issuer: issuer, client: client, minInterval: minInterval}
}

// key returns the public key for kid, refreshing the set once if kid is unknown and the rate limit allows it.
// Holding the lock during the fetch makes concurrent misses wait for one fetch instead of each doing their own.
func (j *jwks) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if k, ok := j.keys[kid]; ok {
		return k, nil
	}
	if !j.lastFetch.IsZero() && time.Since(j.lastFetch) < j.minInterval {
		return nil, fmt.Errorf("unknown signing key %q", kid)
	}
	if err := j.refresh(ctx); err != nil {
		return nil, err
	}
	if k, ok := j.keys[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("unknown signing key %q", kid)
}

// isIssuer reports whether iss names this OIDC server: its URL as configured, or the issuer its discovery
// document announces (Keycloak reached through an in-cluster address announces its public URL). The discovery
// document has been read by the time a token's key was found.
func (j *jwks) isIssuer(iss string) bool {
	if j == nil || iss == "" {
		return false
	}
	iss = strings.TrimSuffix(iss, "/")
	j.mu.Lock()
	defer j.mu.Unlock()
	return iss == j.issuer || iss == j.announced
}

func (j *jwks) refresh(ctx context.Context) error {
	j.lastFetch = time.Now()
	if j.jwksURI == "" {
		var disc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := j.getJSON(ctx, j.issuer+"/.well-known/openid-configuration", &disc); err != nil {
			return fmt.Errorf("OIDC discovery at %s: %w", j.issuer, err)
		}
		if disc.JWKSURI == "" {
			return fmt.Errorf("OIDC discovery at %s: no jwks_uri", j.issuer)
		}
		j.jwksURI, j.announced = disc.JWKSURI, strings.TrimSuffix(disc.Issuer, "/")
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := j.getJSON(ctx, j.jwksURI, &set); err != nil {
		return fmt.Errorf("fetch JWKS %s: %w", j.jwksURI, err)
	}
	keys := make(map[string]*rsa.PublicKey, len(set.Keys))
	for _, k := range set.Keys {
		pub, err := k.rsaPublicKey()
		if err != nil {
			continue // encryption keys, EC keys and malformed entries cannot verify our RS*/PS* tokens
		}
		keys[k.Kid] = pub
	}
	j.keys = keys
	return nil
}

func (j *jwks) getJSON(ctx context.Context, url string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := j.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, maxDocumentBytes)).Decode(into)
}

// jwk is one entry of a JSON Web Key Set (RFC 7517); only RSA signature keys are used.
type jwk struct {
	Kid string `json:"kid"`
	Kty string `json:"kty"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
}

func (k jwk) rsaPublicKey() (*rsa.PublicKey, error) {
	if k.Kty != "RSA" || (k.Use != "" && k.Use != "sig") || k.Kid == "" {
		return nil, errors.New("not an RSA signature key")
	}
	n, err := base64.RawURLEncoding.DecodeString(k.N)
	if err != nil || len(n) == 0 {
		return nil, errors.New("bad modulus")
	}
	e, err := base64.RawURLEncoding.DecodeString(k.E)
	if err != nil || len(e) == 0 || len(e) > 4 {
		return nil, errors.New("bad exponent")
	}
	exp := int(new(big.Int).SetBytes(e).Int64())
	if exp < 3 {
		return nil, errors.New("bad exponent")
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}, nil
}
