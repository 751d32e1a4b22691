package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/auth"
	"github.com/dmrm/dm-manager/internal/auth/authtest"
	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/internal/testlog"
)

const (
	tenantA = "8f2c1a6e-2b3d-4c5e-9f70-1a2b3c4d5e6f"
	tenantB = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
	guidA   = "4c4c4544-004b-4210-8033-b6c04f504633" // the MPS test GUID
	guidB   = "11111111-2222-4333-8444-555555555555"
	guidOff = "99999999-8888-4777-8666-555555555555" // tenant A, not connected
)

type env struct {
	t        *testing.T
	srv      *httptest.Server
	domains  *memDomains
	profiles *memProfiles
	secrets  *memSecrets
	amt      *fakeAMT
	logs     *testlog.Buffer
}

// newEnv serves the API with in-memory parts, HS256 tokens, tenants A and B, device A connected, device B of
// tenant B, and device Off of tenant A disconnected.
func newEnv(t *testing.T, edit ...func(*Options)) *env {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{SharedSecret: authtest.Secret})
	require.NoError(t, err)
	e := &env{
		t: t, domains: newMemDomains(tenantA, tenantB), profiles: newMemProfiles(tenantA, tenantB), secrets: newMemSecrets(), logs: &testlog.Buffer{},
		amt: &fakeAMT{connected: map[string]bool{guidA: true, guidB: true}, version: "16.1.25", audit: 3},
	}
	opts := Options{
		Domains: e.domains, Profiles: e.profiles, Secrets: e.secrets, AMT: e.amt, Verifier: v,
		Devices: memDevices{
			guidA:   {GUID: guidA, TenantID: tenantA, ConnectionState: store.ConnectionConnected, AMTVersion: "16.1.25"},
			guidB:   {GUID: guidB, TenantID: tenantB, ConnectionState: store.ConnectionConnected},
			guidOff: {GUID: guidOff, TenantID: tenantA, ConnectionState: store.ConnectionDisconnected},
		},
		Log: zerolog.New(e.logs),
	}
	for _, f := range edit {
		f(&opts)
	}
	if d, ok := opts.Devices.(memDevices); ok {
		e.amt.devices = d
	}
	h, err := NewHandler(opts)
	require.NoError(t, err)
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

// token returns an HS256 token with the given realm roles.
func token(t *testing.T, roles ...string) string {
	return authtest.HS256(t, authtest.Claims(roles...))
}

func rw(t *testing.T, tenant string) string { return token(t, tenant+"_"+auth.RoleIMRW) }
func ro(t *testing.T, tenant string) string { return token(t, tenant+"_"+auth.RoleIMR) }

// do sends a request; body may be nil, a []byte or a value to encode as JSON. Headers come in name, value pairs.
func (e *env) do(method, path, tok string, body any, headers ...string) (int, []byte, http.Header) {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(e.t, err)
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	require.NoError(e.t, err)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, out, resp.Header
}

func domainsPath(project string) string { return "/v1/projects/" + project + "/dm/amt/admin/domains" }

// upload is a valid POST body for the default test PKI.
func upload(t *testing.T, name string, p *certtest.PKI) map[string]string {
	return map[string]string{
		"profileName":                   name,
		"domainSuffix":                  certtest.Suffix,
		"provisioningCert":              base64.StdEncoding.EncodeToString(p.PFX(t, certtest.Password)),
		"provisioningCertPassword":      certtest.Password,
		"provisioningCertStorageFormat": "string",
	}
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(b, &v), string(b))
	return v
}

type validationBody struct {
	Errors []fieldError `json:"errors"`
}

type errorBody struct {
	Error            string `json:"error"`
	Message          string `json:"message"`
	ErrorDescription string `json:"errorDescription"`
}
