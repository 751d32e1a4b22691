package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/auth"
	"github.com/dmrm/dm-manager/internal/auth/authtest"
	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
)

func TestAuth(t *testing.T) {
	e := newEnv(t)
	p := certtest.New(t)
	expired := authtest.Claims(tenantA + "_im-rw")
	expired["exp"] = time.Now().Add(-time.Minute).Unix()
	both := token(t, tenantA+"_im-r", tenantB+"_im-rw")

	cases := []struct {
		name   string
		method string
		path   string
		tok    string
		want   int
	}{
		{"no token", http.MethodGet, domainsPath(tenantA), "", http.StatusUnauthorized},
		{"garbage token", http.MethodGet, domainsPath(tenantA), "not-a-jwt", http.StatusUnauthorized},
		{"expired token", http.MethodGet, domainsPath(tenantA), authtest.HS256(t, expired), http.StatusUnauthorized},
		{"wrong secret", http.MethodGet, domainsPath(tenantA), wrongSecret(t), http.StatusUnauthorized},
		{"other project reads", http.MethodGet, domainsPath(tenantA), rw(t, tenantB), http.StatusForbidden},
		{"other project writes", http.MethodPost, domainsPath(tenantA), rw(t, tenantB), http.StatusForbidden},
		{"other project's device", http.MethodGet, "/v1/projects/" + tenantA + "/dm/devices/" + guidA, ro(t, tenantB), http.StatusForbidden},
		{"agent role only", http.MethodGet, domainsPath(tenantA), token(t, tenantA+"_en-agent-rw"), http.StatusForbidden},
		{"read-only reads", http.MethodGet, domainsPath(tenantA), ro(t, tenantA), http.StatusOK},
		{"read-only writes", http.MethodPost, domainsPath(tenantA), ro(t, tenantA), http.StatusForbidden},
		{"read-only deletes", http.MethodDelete, domainsPath(tenantA) + "/x", ro(t, tenantA), http.StatusForbidden},
		{"read-only patches", http.MethodPatch, domainsPath(tenantA), ro(t, tenantA), http.StatusForbidden},
		{"read-write reads", http.MethodGet, "/v1/projects/" + tenantA + "/dm/devices/" + guidA, rw(t, tenantA), http.StatusOK},
		{"two projects, read in A", http.MethodGet, domainsPath(tenantA), both, http.StatusOK},
		{"two projects, write in A", http.MethodPost, domainsPath(tenantA), both, http.StatusForbidden},
		{"read-write writes", http.MethodPost, domainsPath(tenantA), rw(t, tenantA), http.StatusCreated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.method == http.MethodPost {
				body = upload(t, "corp", p)
			}
			code, out, hdr := e.do(tc.method, tc.path, tc.tok, body)
			require.Equal(t, tc.want, code, string(out))
			switch tc.want {
			case http.StatusUnauthorized:
				require.Equal(t, `Bearer realm="dm-manager"`, hdr.Get("WWW-Authenticate"))
				require.Equal(t, "Unauthorized", decode[errorBody](t, out).Error)
			case http.StatusForbidden:
				require.Equal(t, "Forbidden", decode[errorBody](t, out).Error)
			}
		})
	}
}

func wrongSecret(t *testing.T) string {
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, authtest.Claims(tenantA+"_im-rw")).SignedString([]byte("other"))
	require.NoError(t, err)
	return s
}

// RS256 tokens are checked against the OIDC issuer's JWKS.
func TestAuthRS256(t *testing.T) {
	iss := authtest.NewIssuer(t)
	v, err := auth.NewVerifier(auth.Config{OIDCServerURL: iss.URL()})
	require.NoError(t, err)
	e := newEnv(t, func(o *Options) { o.Verifier = v })
	good := iss.Sign(t, jwt.SigningMethodRS256, "k1", authtest.Claims(tenantA+"_im-r"))
	code, body, _ := e.do(http.MethodGet, domainsPath(tenantA), good, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	code, _, _ = e.do(http.MethodGet, domainsPath(tenantA), rw(t, tenantA), nil)
	require.Equal(t, http.StatusUnauthorized, code, "HS256 is not accepted without a shared secret")
}

func TestAuthDisabled(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AuthDisabled, o.Verifier = true, nil })
	code, _, _ := e.do(http.MethodPost, domainsPath(tenantA), "", upload(t, "corp", certtest.New(t)))
	require.Equal(t, http.StatusCreated, code)
	require.Contains(t, e.logs.String(), "AUTHENTICATION IS DISABLED")

	_, err := NewHandler(Options{Domains: e.domains, Profiles: e.profiles, Secrets: e.secrets, Devices: memDevices{}, AMT: e.amt})
	require.ErrorContains(t, err, "token verifier is required")
}

func TestTenantResolution(t *testing.T) {
	var tmCalls atomic.Int64
	tm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tmCalls.Add(1)
		switch r.URL.Path {
		case "/v1/projects/acme":
			if r.Header.Get("Authorization") == "" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"name": "acme",
				"status": map[string]any{"projectStatus": map[string]string{"uID": tenantA}}})
		case "/v1/projects/broken":
			w.WriteHeader(http.StatusInternalServerError)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(tm.Close)
	e := newEnv(t, func(o *Options) { o.Projects = NewTenantManager(tm.URL) })
	tok := ro(t, tenantA)

	code, body, _ := e.do(http.MethodGet, domainsPath("acme"), tok, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	code, _, _ = e.do(http.MethodGet, domainsPath("acme"), tok, nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, int64(1), tmCalls.Load(), "the name is cached")

	code, _, _ = e.do(http.MethodGet, domainsPath("acme"), ro(t, tenantB), nil)
	require.Equal(t, http.StatusForbidden, code, "a name resolves to a project the token must hold")

	code, body, _ = e.do(http.MethodGet, domainsPath("nobody"), tok, nil)
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, decode[errorBody](t, body).Message, `Project "nobody" not found`)

	code, _, _ = e.do(http.MethodGet, domainsPath("broken"), tok, nil)
	require.Equal(t, http.StatusBadGateway, code)

	// The gateway's header names the project; no Tenant Manager call.
	before := tmCalls.Load()
	code, _, _ = e.do(http.MethodGet, domainsPath("other-name"), tok, nil, auth.HeaderActiveProjectID, tenantA)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, before, tmCalls.Load())

	code, body, _ = e.do(http.MethodGet, domainsPath(tenantA), tok, nil, auth.HeaderActiveProjectID, tenantB)
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, decode[errorBody](t, body).Message, "different project")
	code, _, _ = e.do(http.MethodGet, domainsPath("acme"), tok, nil, auth.HeaderActiveProjectID, "not-a-uuid")
	require.Equal(t, http.StatusBadRequest, code)

	// Without a resolver a name needs the header.
	e2 := newEnv(t)
	code, body, _ = e2.do(http.MethodGet, domainsPath("acme"), tok, nil)
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, decode[errorBody](t, body).Message, "no Tenant Manager")
}

func TestUnknownRoute(t *testing.T) {
	e := newEnv(t)
	code, body, _ := e.do(http.MethodGet, "/v1/projects/"+tenantA+"/dm/amt/nothing", rw(t, tenantA), nil)
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, decode[errorBody](t, body).Message, "/openapi.yaml")
	code, _, hdr := e.do(http.MethodPut, domainsPath(tenantA), rw(t, tenantA), nil)
	require.Equal(t, http.StatusMethodNotAllowed, code)
	require.Contains(t, hdr.Get("Allow"), http.MethodPatch)
}

// TestPolicyDecidesREST: the REST API answers as the RBAC policy (-rbacRules) says. A read-only user's domain
// upload is refused under the shipped policy and accepted under one that grants im-r writes.
func TestPolicyDecidesREST(t *testing.T) {
	p := certtest.New(t)
	code, body, _ := newEnv(t).do(http.MethodPost, domainsPath(tenantA), ro(t, tenantA), upload(t, "Corp", p))
	require.Equal(t, http.StatusForbidden, code, "shipped policy: %s", body)

	changed := strings.Replace(auth.DefaultPolicy, `"im-r": {"read"}`, `"im-r": {"read", "write"}`, 1)
	require.NotEqual(t, auth.DefaultPolicy, changed)
	policy, err := auth.ParsePolicy(context.Background(), "authz.rego", changed)
	require.NoError(t, err)
	v, err := auth.NewVerifier(auth.Config{SharedSecret: authtest.Secret, Policy: policy})
	require.NoError(t, err)
	e := newEnv(t, func(o *Options) { o.Verifier = v })
	code, body, _ = e.do(http.MethodPost, domainsPath(tenantA), ro(t, tenantA), upload(t, "Corp", p))
	require.Equal(t, http.StatusCreated, code, "policy granting im-r writes: %s", body)
}
