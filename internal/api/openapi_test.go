package api

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
)

// Every operation in openapi.yaml is a route of the mux, and every route is in openapi.yaml.
func TestOpenAPICoversRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	require.NoError(t, yaml.Unmarshal(spec, &doc))
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3."))

	var inSpec []string
	for path, item := range doc.Paths {
		for method, v := range item {
			op, ok := v.(map[string]any)
			if method == "parameters" || !ok {
				continue
			}
			require.NotEmpty(t, op["operationId"], "%s %s", method, path)
			require.NotEmpty(t, op["responses"], "%s %s", method, path)
			inSpec = append(inSpec, strings.ToUpper(method)+" "+path)
		}
	}
	slices.Sort(inSpec)

	_, mux, err := newMux(Options{Domains: newMemDomains(), Profiles: newMemProfiles(), Secrets: newMemSecrets(), Devices: memDevices{},
		AMT: &fakeAMT{}, AuthDisabled: true})
	require.NoError(t, err)
	var inMux []string
	for _, rt := range (&server{}).routeTable() {
		inMux = append(inMux, rt.method+" "+Prefix+rt.path)
	}
	inMux = append(inMux, "GET /openapi.yaml", "GET /asyncapi.yaml")
	slices.Sort(inMux)
	require.Equal(t, inSpec, inMux)

	// The mux dispatches each spec operation, with sample parameters, to that very pattern.
	for _, op := range inSpec {
		method, path, _ := strings.Cut(op, " ")
		url := strings.NewReplacer("{project}", tenantA, "{profileName}", "corp", "{guid}", guidA).Replace(path)
		_, pattern := mux.Handler(httptest.NewRequest(method, url, nil))
		require.Equal(t, op, pattern)
	}
}

func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t)
	code, body, hdr := e.do(http.MethodGet, "/openapi.yaml", "", nil)
	require.Equal(t, http.StatusOK, code, "served without a token")
	require.Equal(t, "application/yaml", hdr.Get("Content-Type"))
	require.Equal(t, spec, body)
}

// No password, PFX or fragment of one reaches the logs, whatever the outcome of the upload.
func TestNoSecretsInLogs(t *testing.T) {
	e := newEnv(t)
	tok := rw(t, tenantA)
	p := certtest.New(t)
	good := upload(t, "corp", p)
	pfxB64 := good["provisioningCert"]

	e.secrets.failPut = errBoom
	code, _, _ := e.do(http.MethodPost, domainsPath(tenantA), tok, good)
	require.Equal(t, http.StatusInternalServerError, code)
	e.secrets.failPut = nil
	code, _, _ = e.do(http.MethodPost, domainsPath(tenantA), tok, good)
	require.Equal(t, http.StatusCreated, code)
	wrong := upload(t, "corp2", p)
	wrong["provisioningCertPassword"] = "Another-Secret-9"
	code, _, _ = e.do(http.MethodPost, domainsPath(tenantA), tok, wrong)
	require.Equal(t, http.StatusBadRequest, code)
	code, _, _ = e.do(http.MethodPatch, domainsPath(tenantA), tok, map[string]string{"profileName": "corp",
		"provisioningCert": pfxB64, "provisioningCertPassword": certtest.Password, "domainSuffix": "a.example.com"})
	require.Equal(t, http.StatusOK, code)
	e.secrets.failDel = errBoom
	code, _, _ = e.do(http.MethodDelete, domainsPath(tenantA)+"/corp", tok, nil)
	require.Equal(t, http.StatusInternalServerError, code)

	logs := e.logs.String()
	require.Contains(t, logs, "domain created", "the capture works")
	require.Contains(t, logs, "domain operation failed")
	for _, secret := range []string{certtest.Password, "Another-Secret-9", pfxB64[:32], pfxB64[len(pfxB64)/2:][:32], tok} {
		require.NotContains(t, logs, secret)
	}
}
