package agent

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token returns an access token shaped like the one Keycloak issues to an edge node's agents: realm role
// "<project>_en-agent-rw" (emf-conventions §5). It is signed with a throw-away key, so only a dm-manager running
// with -enableAuth=false accepts it; that dm-manager reads the project from the role, as EMF's does.
func Token(project string, ttl time.Duration) (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("agent token key: %w", err)
	}
	now := time.Now()
	claims := jwt.MapClaims{
		"sub": "edge-node-agent", "iss": "dm-manager-demo", "iat": now.Unix(), "exp": now.Add(ttl).Unix(),
		"realm_access": map[string]any{"roles": []string{project + "_en-agent-rw"}},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
	if err != nil {
		return "", fmt.Errorf("agent token: %w", err)
	}
	return s, nil
}
