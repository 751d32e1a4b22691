package api

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
	"github.com/dmrm/dm-manager/internal/secrets"
)

func TestDomainLifecycle(t *testing.T) {
	e := newEnv(t)
	p := certtest.New(t)
	tok := rw(t, tenantA)

	code, body, _ := e.do(http.MethodPost, domainsPath(tenantA), tok, upload(t, "corp", p))
	require.Equal(t, http.StatusCreated, code, string(body))
	created := decode[map[string]any](t, body)
	require.Equal(t, map[string]any{
		"profileName": "corp", "domainSuffix": "example.com", "provisioningCertStorageFormat": "string",
		"expirationDate": p.Leaf.NotAfter.UTC().Format(time.RFC3339), "tenantId": tenantA, "version": created["version"],
	}, created, "no certificate or password in the answer")
	require.NotEmpty(t, created["version"])

	path, err := secrets.Domain(tenantA, "corp")
	require.NoError(t, err)
	stored, err := e.secrets.Get(t.Context(), path)
	require.NoError(t, err)
	require.Equal(t, certtest.Password, stored[secrets.KeyPassword])
	pfx, err := base64.StdEncoding.DecodeString(stored[secrets.KeyPFX])
	require.NoError(t, err)
	require.NotEmpty(t, pfx)

	code, body, _ = e.do(http.MethodGet, domainsPath(tenantA)+"/corp", tok, nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, created, decode[map[string]any](t, body))
	code, _, _ = e.do(http.MethodGet, domainsPath(tenantA)+"/CORP", tok, nil)
	require.Equal(t, http.StatusOK, code, "names are case-insensitive")

	code, body, _ = e.do(http.MethodGet, domainsPath(tenantA), tok, nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []map[string]any{created}, decode[[]map[string]any](t, body))

	// PATCH the suffix to a subdomain the certificate covers; the version changes.
	code, body, _ = e.do(http.MethodPatch, domainsPath(tenantA), tok, map[string]string{
		"profileName": "corp", "domainSuffix": "Sales.Example.com", "version": created["version"].(string)})
	require.Equal(t, http.StatusOK, code, string(body))
	patched := decode[map[string]any](t, body)
	require.Equal(t, "sales.example.com", patched["domainSuffix"])
	require.NotEqual(t, created["version"], patched["version"])

	code, body, _ = e.do(http.MethodDelete, domainsPath(tenantA)+"/corp", tok, nil)
	require.Equal(t, http.StatusNoContent, code)
	require.Empty(t, body)
	require.Empty(t, e.secrets.paths(), "secret removed with the domain")

	code, body, _ = e.do(http.MethodGet, domainsPath(tenantA)+"/corp", tok, nil)
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, errorBody{Error: "Not Found", Message: "Domain profile corp Not Found"}, decode[errorBody](t, body))
	code, _, _ = e.do(http.MethodDelete, domainsPath(tenantA)+"/corp", tok, nil)
	require.Equal(t, http.StatusNotFound, code)
}

func TestDomainListPaging(t *testing.T) {
	e := newEnv(t)
	tok := rw(t, tenantA)
	for i, name := range []string{"c", "a", "b"} {
		b := upload(t, name, certtest.New(t))
		b["domainSuffix"] = []string{"c.example.com", "a.example.com", "b.example.com"}[i]
		code, body, _ := e.do(http.MethodPost, domainsPath(tenantA), tok, b)
		require.Equal(t, http.StatusCreated, code, string(body))
	}
	names := func(ds []map[string]any) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d["profileName"].(string))
		}
		return out
	}
	code, body, _ := e.do(http.MethodGet, domainsPath(tenantA)+"?$top=2&$skip=1", tok, nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []string{"b", "c"}, names(decode[[]map[string]any](t, body)))

	code, body, _ = e.do(http.MethodGet, domainsPath(tenantA)+"?$count=true&$top=1", tok, nil)
	require.Equal(t, http.StatusOK, code)
	counted := decode[struct {
		Data       []map[string]any `json:"data"`
		TotalCount int              `json:"totalCount"`
	}](t, body)
	require.Equal(t, 3, counted.TotalCount)
	require.Equal(t, []string{"a"}, names(counted.Data))

	code, body, _ = e.do(http.MethodGet, domainsPath(tenantB), rw(t, tenantB), nil)
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `[]`, string(body), "tenant B sees none of A's domains")

	code, body, _ = e.do(http.MethodGet, domainsPath(tenantA)+"?$top=-1&$count=maybe", tok, nil)
	require.Equal(t, http.StatusBadRequest, code)
	errs := decode[validationBody](t, body).Errors
	require.Len(t, errs, 2)
	require.Equal(t, "$top", errs[0].Path)
	require.Equal(t, "$count", errs[1].Path)
}

func TestDomainDuplicates(t *testing.T) {
	e := newEnv(t)
	tok := rw(t, tenantA)
	p := certtest.New(t)
	code, body, _ := e.do(http.MethodPost, domainsPath(tenantA), tok, upload(t, "corp", p))
	require.Equal(t, http.StatusCreated, code, string(body))

	for name, tc := range map[string]struct {
		body map[string]string
		says string
	}{
		"same name":           {upload(t, "corp", p), `the profile name "corp" is already used`},
		"same name, new case": {upload(t, "CORP", p), `profile name "CORP" is already used`},
		"same suffix":         {upload(t, "other", p), `domain suffix "example.com" is already used`},
	} {
		t.Run(name, func(t *testing.T) {
			code, body, _ := e.do(http.MethodPost, domainsPath(tenantA), tok, tc.body)
			require.Equal(t, http.StatusConflict, code)
			eb := decode[errorBody](t, body)
			require.Equal(t, "Conflict", eb.Error)
			require.Contains(t, eb.Message, "ID or Suffix already exists")
			require.Contains(t, eb.Message, tc.says)
		})
	}
	// The same name and suffix in another project is independent.
	code, body, _ = e.do(http.MethodPost, domainsPath(tenantB), rw(t, tenantB), upload(t, "corp", p))
	require.Equal(t, http.StatusCreated, code, string(body))
	require.Len(t, e.secrets.paths(), 2)
}

func TestDomainValidation(t *testing.T) {
	e := newEnv(t)
	tok := rw(t, tenantA)
	p := certtest.New(t)
	other := certtest.NewFor(t, "prov.example.org")
	with := func(edit func(map[string]string)) map[string]string {
		b := upload(t, "corp", p)
		edit(b)
		return b
	}
	cases := []struct {
		name string
		body any
		want map[string]string // path -> message fragment
	}{
		{"empty body", map[string]string{}, map[string]string{
			"profileName": "AMT Domain profile name is required", "provisioningCertPassword": "Provisioning Cert Password is required",
			"domainSuffix": "Domain suffix name is required", "provisioningCert": "Provisioning certificate is required",
			"provisioningCertStorageFormat": "Provisioning Cert Storage Format is required"}},
		{"not JSON", []byte("{profileName:"), map[string]string{"": "not a valid JSON object"}},
		{"bad name", with(func(b map[string]string) { b["profileName"] = "a b" }),
			map[string]string{"profileName": "accepts letters, numbers"}},
		{"long name", with(func(b map[string]string) { b["profileName"] = strings.Repeat("n", 65) }),
			map[string]string{"profileName": "up to 64 characters"}},
		{"bad format", with(func(b map[string]string) { b["provisioningCertStorageFormat"] = "pem" }),
			map[string]string{"provisioningCertStorageFormat": "either 'raw' or 'string'"}},
		{"long password", with(func(b map[string]string) { b["provisioningCertPassword"] = strings.Repeat("p", 65) }),
			map[string]string{"provisioningCertPassword": "should not exceed 64 characters"}},
		{"bad suffix", with(func(b map[string]string) { b["domainSuffix"] = "exa_mple.com" }),
			map[string]string{"domainSuffix": "not a valid DNS name"}},
		{"single-label suffix", with(func(b map[string]string) { b["domainSuffix"] = "com" }),
			map[string]string{"domainSuffix": "single label"}},
		{"not base64", with(func(b map[string]string) { b["provisioningCert"] = "%%%" }),
			map[string]string{"provisioningCert": "must be the base64 encoding"}},
		{"not a PFX", with(func(b map[string]string) {
			b["provisioningCert"] = base64.StdEncoding.EncodeToString([]byte("hello"))
		}), map[string]string{"provisioningCert": "PKCS#12"}},
		{"wrong password", with(func(b map[string]string) { b["provisioningCertPassword"] = "Wrong-Pa55" }),
			map[string]string{"provisioningCertPassword": "password is not correct"}},
		{"suffix not in the certificate", with(func(b map[string]string) { b["domainSuffix"] = "example.net" }),
			map[string]string{"domainSuffix": "FQDN not associated with provisioning certificate"}},
		{"certificate of another domain", with(func(b map[string]string) {
			b["provisioningCert"] = base64.StdEncoding.EncodeToString(other.PFX(t, certtest.Password))
		}), map[string]string{"domainSuffix": `"prov.example.org"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := e.do(http.MethodPost, domainsPath(tenantA), tok, tc.body)
			require.Equal(t, http.StatusBadRequest, code, string(body))
			errs := decode[validationBody](t, body).Errors
			require.Len(t, errs, len(tc.want), string(body))
			for _, fe := range errs {
				require.Equal(t, "body", fe.Location)
				require.Contains(t, fe.Msg, tc.want[fe.Path], "path %q", fe.Path)
				require.NotContains(t, string(body), certtest.Password)
			}
			require.Empty(t, e.secrets.paths())
			ds, _ := e.domains.ListDomains(t.Context(), tenantA)
			require.Empty(t, ds)
		})
	}
}

// A failed secret write leaves no domain behind; a failed secret delete keeps it.
func TestDomainSecretFailures(t *testing.T) {
	e := newEnv(t)
	tok := rw(t, tenantA)
	p := certtest.New(t)
	e.secrets.failPut = errBoom
	code, body, _ := e.do(http.MethodPost, domainsPath(tenantA), tok, upload(t, "corp", p))
	require.Equal(t, http.StatusInternalServerError, code)
	require.Equal(t, errorBody{Error: "Internal Server Error", Message: "Operation failed: POST corp"}, decode[errorBody](t, body))
	require.Equal(t, 1, e.secrets.putCalls)
	ds, _ := e.domains.ListDomains(t.Context(), tenantA)
	require.Empty(t, ds)

	e.secrets.failPut = nil
	code, _, _ = e.do(http.MethodPost, domainsPath(tenantA), tok, upload(t, "corp", p))
	require.Equal(t, http.StatusCreated, code, "the name is free again")

	e.secrets.failDel = errBoom
	code, _, _ = e.do(http.MethodDelete, domainsPath(tenantA)+"/corp", tok, nil)
	require.Equal(t, http.StatusInternalServerError, code)
	code, _, _ = e.do(http.MethodGet, domainsPath(tenantA)+"/corp", tok, nil)
	require.Equal(t, http.StatusOK, code, "domain kept while its secret could not be deleted")
}

func TestDomainUnknownTenant(t *testing.T) {
	e := newEnv(t)
	const newTenant = "abcdefab-1234-4567-89ab-abcdefabcdef"
	code, body, hdr := e.do(http.MethodPost, domainsPath(newTenant), rw(t, newTenant), upload(t, "corp", certtest.New(t)))
	require.Equal(t, http.StatusServiceUnavailable, code, string(body))
	require.Equal(t, "30", hdr.Get("Retry-After"))
	require.Empty(t, e.secrets.paths())
}

func TestDomainPatch(t *testing.T) {
	e := newEnv(t)
	tok := rw(t, tenantA)
	p := certtest.New(t)
	code, body, _ := e.do(http.MethodPost, domainsPath(tenantA), tok, upload(t, "corp", p))
	require.Equal(t, http.StatusCreated, code, string(body))
	v1 := decode[map[string]any](t, body)["version"].(string)
	patch := func(b map[string]string) (int, []byte) {
		code, body, _ := e.do(http.MethodPatch, domainsPath(tenantA), tok, b)
		return code, body
	}

	code, body = patch(map[string]string{"profileName": "corp", "provisioningCertStorageFormat": "raw"})
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, v1, decode[map[string]any](t, body)["version"], "nothing stored changed")

	code, body = patch(map[string]string{"profileName": "nope", "domainSuffix": "example.com"})
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, "Domain profile nope Not Found", decode[errorBody](t, body).Message)

	code, body = patch(map[string]string{"profileName": "corp", "domainSuffix": "a.example.com", "version": "123"})
	require.Equal(t, http.StatusConflict, code)
	require.Contains(t, decode[errorBody](t, body).Message, "changed by another request")

	code, body = patch(map[string]string{"profileName": "corp", "domainSuffix": "example.org"})
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, "domainSuffix", decode[validationBody](t, body).Errors[0].Path)

	code, body = patch(map[string]string{"profileName": "corp", "provisioningCertPassword": "Wrong-Pa55"})
	require.Equal(t, http.StatusBadRequest, code, "a new password is checked against the stored PFX")
	require.Equal(t, "provisioningCertPassword", decode[validationBody](t, body).Errors[0].Path)

	code, body = patch(map[string]string{"profileName": ""})
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, "profileName", decode[validationBody](t, body).Errors[0].Path)

	// Replace the certificate and suffix together; the secret follows.
	other := certtest.NewFor(t, "prov.example.org")
	pfx := other.PFX(t, "Other-Pa55")
	code, body = patch(map[string]string{"profileName": "CORP", "domainSuffix": "example.org", "version": v1,
		"provisioningCert": base64.StdEncoding.EncodeToString(pfx), "provisioningCertPassword": "Other-Pa55"})
	require.Equal(t, http.StatusOK, code, string(body))
	got := decode[map[string]any](t, body)
	require.Equal(t, "corp", got["profileName"])
	require.Equal(t, "example.org", got["domainSuffix"])
	require.Equal(t, base64.StdEncoding.EncodeToString(pfx), e.secrets.lastWrite[secrets.KeyPFX])

	// A stored secret that cannot be read forces a full upload.
	e.secrets.failGet = errBoom
	code, body = patch(map[string]string{"profileName": "corp", "domainSuffix": "b.example.org"})
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, decode[validationBody](t, body).Errors[0].Msg, "cannot be read")
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t)
	b := upload(t, "corp", certtest.New(t))
	b["provisioningCert"] = strings.Repeat("A", DefaultMaxBodyBytes)
	code, body, _ := e.do(http.MethodPost, domainsPath(tenantA), rw(t, tenantA), b)
	require.Equal(t, http.StatusRequestEntityTooLarge, code)
	require.Contains(t, decode[errorBody](t, body).Message, "larger than 65536 bytes")
}
