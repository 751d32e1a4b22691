package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Keycloak role suffixes; a project role is "<projectUUID>_<suffix>" (emf-conventions §5).
const (
	RoleENAgentRW = "en-agent-rw" // edge node agents (PMA): read-write on their own project's devices
	RoleIMRW      = "im-rw"       // infrastructure manager users: read-write
	RoleIMR       = "im-r"        // infrastructure manager users: read-only
)

// ErrMultipleProjects is returned when a token's roles name more than one project for the same role; the text is
// EMF's, which agents and tests already know.
var ErrMultipleProjects = errors.New("Credentials from EN should belong to a single Project!") //nolint:staticcheck,revive // EMF's exact text

// Claims is what dm-manager uses from a validated token.
type Claims struct {
	Subject   string
	Issuer    string
	ExpiresAt time.Time
	// Roles is the union of realm_access.roles and every resource_access.<client>.roles.
	Roles []string
	// policy decides Authorize; the Verifier sets it. Claims without one (never verified) are granted nothing.
	policy *Policy
}

// Authorize returns nil when the RBAC policy (-rbacRules) grants the token access in tenant, else an error
// wrapping ErrForbidden.
func (c *Claims) Authorize(ctx context.Context, tenant string, access Access) error {
	if c == nil || c.policy == nil {
		return fmt.Errorf("%w: the token was not verified", ErrForbidden)
	}
	ok, err := c.policy.Allows(ctx, access, tenant, c.Roles)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrForbidden, err)
	}
	if !ok {
		return fmt.Errorf("%w: the token's roles grant no %s access to project %s", ErrForbidden, access, tenant)
	}
	return nil
}

// TenantFromRoles returns the project UUID carried by the roles ending in "_<suffix>". All such roles must name the
// same project (EMF rule); none at all is ErrForbidden. Roles whose prefix is not a UUID are not project roles.
func TenantFromRoles(roles []string, suffix string) (string, error) {
	tenant := ""
	for _, r := range roles {
		prefix, ok := strings.CutSuffix(r, "_"+suffix)
		if !ok {
			continue
		}
		id, err := uuid.Parse(prefix)
		if err != nil {
			continue
		}
		switch p := id.String(); {
		case tenant == "":
			tenant = p
		case tenant != p:
			return "", fmt.Errorf("%w: %w", ErrForbidden, ErrMultipleProjects)
		}
	}
	if tenant == "" {
		return "", fmt.Errorf("%w: token has no %s role for any project", ErrForbidden, suffix)
	}
	return tenant, nil
}

// TenantFor resolves the tenant a node agent acts for and checks the policy grants it agent access there. An
// explicit project (ActiveProjectID metadata) can select among the token's projects but never widen them; without
// one, the token's en-agent-rw roles must name exactly one project.
func (c *Claims) TenantFor(ctx context.Context, activeProjectID string) (string, error) {
	tenant := ""
	if activeProjectID == "" {
		t, err := TenantFromRoles(c.Roles, RoleENAgentRW)
		if err != nil {
			return "", err
		}
		tenant = t
	} else {
		id, err := uuid.Parse(activeProjectID)
		if err != nil {
			return "", fmt.Errorf("%w: active project ID %q is not a UUID", ErrForbidden, activeProjectID)
		}
		tenant = id.String()
	}
	if err := c.Authorize(ctx, tenant, AccessAgent); err != nil {
		return "", err
	}
	return tenant, nil
}

type claimsKey struct{}

// WithClaims stores validated claims in ctx.
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFromContext returns the claims stored by the gRPC interceptor or the HTTP middleware.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}

// tokenClaims is the JSON shape of a Keycloak access token, as far as we read it.
type tokenClaims struct {
	jwt.RegisteredClaims
	RealmAccess struct {
		Roles []string `json:"roles"`
	} `json:"realm_access"`
	ResourceAccess map[string]struct {
		Roles []string `json:"roles"`
	} `json:"resource_access"`
}

func (t *tokenClaims) claims() *Claims {
	c := &Claims{Subject: t.Subject, Issuer: t.Issuer}
	if t.ExpiresAt != nil {
		c.ExpiresAt = t.ExpiresAt.Time
	}
	c.Roles = append(c.Roles, t.RealmAccess.Roles...)
	clients := make([]string, 0, len(t.ResourceAccess))
	for name := range t.ResourceAccess {
		clients = append(clients, name)
	}
	slices.Sort(clients)
	for _, name := range clients {
		for _, r := range t.ResourceAccess[name].Roles {
			if !slices.Contains(c.Roles, r) {
				c.Roles = append(c.Roles, r)
			}
		}
	}
	return c
}
