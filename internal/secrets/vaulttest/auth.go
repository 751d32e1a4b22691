package vaulttest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// appRoleLogin is POST/PUT auth/approle/login {"role_id","secret_id"}. Callers hold mu.
func (s *Server) appRoleLogin(w http.ResponseWriter, r *http.Request) {
	if !isWrite(r) {
		writeErrors(w, http.StatusMethodNotAllowed)
		return
	}
	body, ok := decodeBody(w, r)
	if !ok {
		return
	}
	roleID, _ := body["role_id"].(string)
	secretID, _ := body["secret_id"].(string)
	if roleID == "" {
		writeErrors(w, http.StatusBadRequest, "missing role_id")
		return
	}
	role := s.approles[roleID]
	if role == nil || secretID != role.secretID {
		writeErrors(w, http.StatusBadRequest, "invalid role or secret ID")
		return
	}
	t := s.issueLocked(role.spec, "auth/approle/login", "approle", map[string]string{"role_name": role.name})
	s.count(func(st *Stats) { st.AppRoleLogins++ })
	writeResponse(w, response{Auth: authOf(t, t.creationTTL)})
}

// kubernetesLogin is POST/PUT auth/kubernetes/login {"role","jwt"}; a JWT the role does not accept is what a failed
// TokenReview gives: 403 permission denied. Callers hold mu.
func (s *Server) kubernetesLogin(w http.ResponseWriter, r *http.Request) {
	if !isWrite(r) {
		writeErrors(w, http.StatusMethodNotAllowed)
		return
	}
	body, ok := decodeBody(w, r)
	if !ok {
		return
	}
	roleName, _ := body["role"].(string)
	jwt, _ := body["jwt"].(string)
	switch {
	case roleName == "":
		writeErrors(w, http.StatusBadRequest, "missing role")
		return
	case jwt == "":
		writeErrors(w, http.StatusBadRequest, "missing jwt")
		return
	}
	role := s.k8sRoles[roleName]
	if role == nil {
		writeErrors(w, http.StatusBadRequest, fmt.Sprintf("invalid role name %q", roleName))
		return
	}
	if !role.jwts[jwt] {
		s.count(func(st *Stats) { st.Denied++ })
		writeErrors(w, http.StatusForbidden, "permission denied")
		return
	}
	t := s.issueLocked(role.spec, "auth/kubernetes/login", "kubernetes-"+roleName, map[string]string{"role": roleName})
	s.count(func(st *Stats) { st.KubernetesLogins++ })
	writeResponse(w, response{Auth: authOf(t, t.creationTTL)})
}

func authOf(t *token, ttl time.Duration) *authBlock {
	return &authBlock{
		ClientToken: t.id, Accessor: t.accessor, Policies: t.policies, TokenPolicies: t.policies, Metadata: t.meta,
		LeaseDuration: int(ttl / time.Second), Renewable: t.renewable, TokenType: "service", Orphan: true,
	}
}

// lookupSelf is GET auth/token/lookup-self. Callers hold mu.
func (s *Server) lookupSelf(w http.ResponseWriter, r *http.Request, t *token) {
	if r.Method != http.MethodGet {
		writeErrors(w, http.StatusMethodNotAllowed)
		return
	}
	var expireTime any
	ttl := 0
	if !t.expires.IsZero() {
		expireTime = t.expires.UTC().Format(time.RFC3339Nano)
		ttl = int(time.Until(t.expires) / time.Second)
	}
	var meta any
	if t.meta != nil {
		meta = t.meta
	}
	s.count(func(st *Stats) { st.Lookups++ })
	writeResponse(w, response{Data: map[string]any{
		"accessor": t.accessor, "creation_time": t.issued.Unix(), "creation_ttl": int(t.creationTTL / time.Second),
		"display_name": t.displayName, "entity_id": "", "expire_time": expireTime, "explicit_max_ttl": 0,
		"id": t.id, "issue_time": t.issued.UTC().Format(time.RFC3339Nano), "meta": meta, "num_uses": 0,
		"orphan": true, "path": t.path, "policies": t.policies, "renewable": t.renewable, "ttl": ttl,
		"type": "service",
	}})
}

// renewSelf is PUT/POST auth/token/renew-self {"increment"}: the new TTL is the increment (or the token's own TTL
// when 0), capped at the max TTL with Vault's warning. Callers hold mu.
func (s *Server) renewSelf(w http.ResponseWriter, r *http.Request, t *token) {
	if !isWrite(r) {
		writeErrors(w, http.StatusMethodNotAllowed)
		return
	}
	body, ok := decodeBody(w, r)
	if !ok {
		return
	}
	if !t.renewable {
		writeErrors(w, http.StatusBadRequest, "lease is not renewable")
		return
	}
	inc, err := parseIncrement(body["increment"])
	if err != nil {
		writeErrors(w, http.StatusBadRequest, err.Error())
		return
	}
	if inc <= 0 {
		inc = t.creationTTL
	}
	ttl := inc
	var warnings []string
	capped := false
	if !t.maxExpires.IsZero() {
		if left := time.Until(t.maxExpires); ttl > left {
			warnings = append(warnings, fmt.Sprintf(
				"TTL of %q exceeded the effective max_ttl of %q; TTL value is capped accordingly",
				inc.String(), left.Truncate(time.Second).String()))
			ttl, capped = left, true
		}
	}
	if ttl > 0 {
		t.expires = time.Now().Add(ttl)
	}
	s.count(func(st *Stats) {
		st.Renewals++
		if capped {
			st.CappedRenewals++
		}
	})
	writeResponse(w, response{Warnings: warnings, Auth: authOf(t, ttl)})
}

// parseIncrement accepts seconds as a number or string, or a Go duration string ("1h"), like Vault's parseutil.
func parseIncrement(v any) (time.Duration, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case json.Number:
		n, err := x.Int64()
		if err != nil {
			return 0, fmt.Errorf("invalid increment %q", x.String())
		}
		return time.Duration(n) * time.Second, nil
	case string:
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			return time.Duration(n) * time.Second, nil
		}
		d, err := time.ParseDuration(x)
		if err != nil {
			return 0, fmt.Errorf("invalid increment %q", x)
		}
		return d, nil
	default:
		return 0, fmt.Errorf("invalid increment of type %T", v)
	}
}
