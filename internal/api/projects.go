package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/dmrm/dm-manager/internal/expiring"
)

// TenantManager resolves project names with EMF's Tenant Manager: GET {BaseURL}/v1/projects/{name} with the
// caller's Authorization header, answering {"name": …, "status": {"projectStatus": {"uID": "<uuid>"}}}
// (emf-conventions §5, orch-library projectcontext). Answers are cached for TTL: a project's UUID never
// changes, and the role check that follows still needs the caller's token to name that UUID.
type TenantManager struct {
	BaseURL string
	Client  *http.Client
	TTL     time.Duration
	Now     func() time.Time

	known *expiring.Map[string, string] // project name → UUID
}

// maxProjects bounds the project names remembered at once.
const maxProjects = 4096

// NewTenantManager returns a resolver for baseURL (e.g. http://tenancy-manager.orch-iam:8080) with a 10 s HTTP
// timeout and a 5 min cache.
func NewTenantManager(baseURL string) *TenantManager {
	return &TenantManager{
		BaseURL: strings.TrimSuffix(baseURL, "/"),
		Client:  &http.Client{Timeout: 10 * time.Second},
		TTL:     5 * time.Minute,
		Now:     time.Now,
		known:   expiring.New[string, string](maxProjects),
	}
}

// ResolveProject implements ProjectResolver.
func (tm *TenantManager) ResolveProject(ctx context.Context, name, authorization string) (string, error) {
	now := tm.Now()
	if id, ok := tm.known.Get(name, now); ok {
		return id, nil
	}
	// G704 (SSRF) does not apply: the host is the operator's BaseURL; the project name fills one escaped segment.
	target := tm.BaseURL + "/v1/projects/" + url.PathEscape(name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil) //nolint:gosec // G704: see above
	if err != nil {
		return "", fmt.Errorf("tenant manager: %w", err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := tm.Client.Do(req) //nolint:gosec // G704: see above
	if err != nil {
		return "", fmt.Errorf("tenant manager: GET project %q: %w", name, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return "", fmt.Errorf("tenant manager: project %q: %w", name, ErrProjectNotFound)
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("tenant manager: GET project %q: HTTP %d", name, resp.StatusCode)
	}
	var body struct {
		Status struct {
			ProjectStatus struct {
				UID string `json:"uID"`
			} `json:"projectStatus"`
		} `json:"status"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return "", fmt.Errorf("tenant manager: project %q: decoding answer: %w", name, err)
	}
	id, err := uuid.Parse(body.Status.ProjectStatus.UID)
	if err != nil {
		return "", fmt.Errorf("tenant manager: project %q has no UUID yet (status.projectStatus.uID %q): %w",
			name, body.Status.ProjectStatus.UID, ErrProjectNotFound)
	}
	tm.known.Put(name, id.String(), now.Add(tm.TTL))
	return id.String(), nil
}
