package api

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/store"
)

func profilesPath(tenant string) string { return "/v1/projects/" + tenant + "/dm/amt/admin/profiles" }

func TestProfileFeatures(t *testing.T) {
	e := newEnv(t)
	code, body, _ := e.do(http.MethodGet, profilesPath(tenantA), ro(t, tenantA), nil)
	require.Equal(t, http.StatusOK, code, string(body))
	var list []profileJSON
	require.NoError(t, json.Unmarshal(body, &list))
	require.Len(t, list, 2)
	require.Equal(t, profileJSON{ProfileName: tenantA + "_acm", Activation: "acmactivate", CIRAConfigName: tenantA,
		UserConsent: "None", KVMEnabled: true, SOLEnabled: true, Tags: []string{}, TenantID: tenantA}, list[0],
		"EMF's defaults")

	// Only the features given change.
	code, body, _ = e.do(http.MethodPatch, profilesPath(tenantA), rw(t, tenantA),
		map[string]any{"profileName": tenantA + "_acm", "solEnabled": false, "iderEnabled": true})
	require.Equal(t, http.StatusOK, code, string(body))
	var got profileJSON
	require.NoError(t, json.Unmarshal(body, &got))
	require.Equal(t, []bool{true, false, true}, []bool{got.KVMEnabled, got.SOLEnabled, got.IDEREnabled})
	p, err := e.profiles.GetProfile(t.Context(), tenantA, tenantA+"_acm")
	require.NoError(t, err)
	require.Equal(t, store.Features{KVM: true, SOL: false, IDER: true}, p.Features)
	code, body, _ = e.do(http.MethodGet, profilesPath(tenantA)+"/"+tenantA+"_acm", ro(t, tenantA), nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), `"iderEnabled":true`)
	require.Contains(t, string(body), `"tlsMode":null`, "RPS shows no TLS mode as null")

	// The TLS mode is set alone, keeps the features, and 0 clears it.
	for _, mode := range []int{2, 4, 0} {
		code, body, _ = e.do(http.MethodPatch, profilesPath(tenantA), rw(t, tenantA),
			map[string]any{"profileName": tenantA + "_acm", "tlsMode": mode})
		require.Equal(t, http.StatusOK, code, string(body))
		p, err = e.profiles.GetProfile(t.Context(), tenantA, tenantA+"_acm")
		require.NoError(t, err)
		require.Equal(t, store.Features{KVM: true, SOL: false, IDER: true, TLSMode: store.TLSMode(mode)}, p.Features)
	}
	code, body, _ = e.do(http.MethodPatch, profilesPath(tenantA), rw(t, tenantA),
		map[string]any{"profileName": tenantA + "_ccm", "tlsMode": 2})
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), `"tlsMode":2`)
}

func TestProfileFeaturesRefused(t *testing.T) {
	e := newEnv(t)
	acm := tenantA + "_acm"
	for name, c := range map[string]struct {
		tenant, token string
		body          any
		code          int
		msg           string
	}{
		"read-only role":    {tenantA, ro(t, tenantA), map[string]any{"profileName": acm, "kvmEnabled": false}, http.StatusForbidden, ""},
		"other project":     {tenantA, rw(t, tenantB), map[string]any{"profileName": acm, "kvmEnabled": false}, http.StatusForbidden, ""},
		"another's profile": {tenantB, rw(t, tenantB), map[string]any{"profileName": acm, "kvmEnabled": false}, http.StatusNotFound, "AMT profile"},
		"no name":           {tenantA, rw(t, tenantA), map[string]any{"kvmEnabled": false}, http.StatusBadRequest, "profileName is required"},
		"field dm-manager sets": {tenantA, rw(t, tenantA), map[string]any{"profileName": acm, "userConsent": "All"},
			http.StatusBadRequest, `unknown field \"userConsent\"`},
		"not a boolean": {tenantA, rw(t, tenantA), map[string]any{"profileName": acm, "kvmEnabled": "yes"}, http.StatusBadRequest, ""},
		"TLS without non-TLS": {tenantA, rw(t, tenantA), map[string]any{"profileName": acm, "tlsMode": 1},
			http.StatusBadRequest, "1 and 3 refuse non-TLS connections"},
		"unknown TLS mode": {tenantA, rw(t, tenantA), map[string]any{"profileName": acm, "tlsMode": 5},
			http.StatusBadRequest, "tlsMode must be"},
		"TLS mode wrapping a 16-bit column": {tenantA, rw(t, tenantA), map[string]any{"profileName": acm, "tlsMode": 65538},
			http.StatusBadRequest, "tlsMode must be"},
	} {
		t.Run(name, func(t *testing.T) {
			code, body, _ := e.do(http.MethodPatch, profilesPath(c.tenant), c.token, c.body)
			require.Equal(t, c.code, code, string(body))
			require.Contains(t, string(body), c.msg)
		})
	}
	p, err := e.profiles.GetProfile(t.Context(), tenantA, acm)
	require.NoError(t, err)
	require.Equal(t, store.DefaultFeatures, p.Features, "nothing changed")
}
