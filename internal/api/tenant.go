package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/dmrm/dm-manager/internal/auth"
)

// authenticate validates the bearer token; nil claims with ok when auth is disabled.
func (s *server) authenticate(w http.ResponseWriter, r *http.Request) (*auth.Claims, bool) {
	if s.AuthDisabled {
		return nil, true
	}
	claims, err := s.Verifier.FromRequest(r)
	if err != nil {
		// RFC 6750 §3: a challenge tells clients to (re)send a bearer token.
		w.Header().Set("WWW-Authenticate", `Bearer realm="dm-manager"`)
		writeError(w, http.StatusUnauthorized, err.Error())
		return nil, false
	}
	return claims, true
}

// tenant resolves the request's tenant (emf-conventions §5): a UUID {project} is the tenant; a project name is
// taken from the ActiveProjectID header the gateway sets, else resolved with the ProjectResolver. A header that
// contradicts a UUID path is rejected rather than silently preferred.
func (s *server) tenant(w http.ResponseWriter, r *http.Request) (string, bool) {
	project := r.PathValue("project")
	header := strings.TrimSpace(r.Header.Get(auth.HeaderActiveProjectID))
	if id, err := uuid.Parse(project); err == nil && id.String() != project {
		// {uuid}, urn:uuid:… and upper case name the same project in another spelling: one path per resource.
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Project %q is not a UUID in canonical form; use %s "+
			"(lower-case, 8-4-4-4-12) in the path.", clip(project), id))
		return "", false
	}
	if canonicalUUID(project) {
		if header != "" && !strings.EqualFold(header, project) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("The %s header (%s) names a different project than the "+
				"path (%s); send one project.", auth.HeaderActiveProjectID, clip(header), project))
			return "", false
		}
		return project, true
	}
	if header != "" {
		id, err := uuid.Parse(header)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("The %s header %q is not a project UUID.",
				auth.HeaderActiveProjectID, clip(header)))
			return "", false
		}
		return id.String(), true
	}
	if s.Projects == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Project %q not found: it is not a project UUID and dm-manager "+
			"has no Tenant Manager to resolve names; use the project UUID or send the %s header.",
			clip(project), auth.HeaderActiveProjectID))
		return "", false
	}
	id, err := s.Projects.ResolveProject(r.Context(), project, r.Header.Get("Authorization"))
	switch {
	case errors.Is(err, ErrProjectNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("Project %q not found.", clip(project)))
		return "", false
	case err != nil:
		s.Log.Warn().Err(err).Str("project", clip(project)).Msg("resolving project name failed")
		writeError(w, http.StatusBadGateway, fmt.Sprintf("Project %q could not be resolved: the Tenant Manager did "+
			"not answer; retry, or use the project UUID.", clip(project)))
		return "", false
	}
	return id, true
}

// authorize asks the RBAC policy (-rbacRules) whether the token may read or write in tenant; the shipped policy
// grants reads to im-r and im-rw and writes to im-rw. A valid token of another project is 403.
func (s *server) authorize(ctx context.Context, w http.ResponseWriter, claims *auth.Claims, tenant string,
	perm permission,
) bool {
	if s.AuthDisabled {
		return true
	}
	access := auth.AccessRead
	if perm == permWrite {
		access = auth.AccessWrite
	}
	if err := claims.Authorize(ctx, tenant, access); err != nil {
		writeError(w, http.StatusForbidden, err.Error())
		return false
	}
	return true
}
