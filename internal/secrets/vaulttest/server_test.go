package vaulttest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// do sends one raw request and returns the status and decoded body (nil for an empty body).
func do(t *testing.T, s *Server, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if len(raw) == 0 {
		return resp.StatusCode, nil
	}
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	return resp.StatusCode, out
}

func TestWireShapes(t *testing.T) {
	s := New()
	defer s.Close()
	tok := s.CreateToken(TokenSpec{TTL: time.Hour, MaxTTL: 90 * time.Minute, Renewable: true})

	code, body := do(t, s, http.MethodGet, "/v1/secret/data/a/b", tok, "")
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, map[string]any{"errors": []any{}}, body)

	code, body = do(t, s, http.MethodGet, "/v1/secret/data/a/b", "hvs.bogus", "")
	require.Equal(t, http.StatusForbidden, code)
	require.Equal(t, map[string]any{"errors": []any{"permission denied"}}, body)

	code, body = do(t, s, http.MethodPost, "/v1/secret/data/a/b", tok, `{"password":"x"}`)
	require.Equal(t, http.StatusBadRequest, code, "KV v2 wants the map under \"data\"")
	require.Equal(t, []any{"no data provided"}, body["errors"])

	code, body = do(t, s, http.MethodPost, "/v1/secret/data/a/b", tok, `{"data":{"password":"x"}}`)
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, 1, body["data"].(map[string]any)["version"])

	code, body = do(t, s, http.MethodGet, "/v1/secret/data/a/b", tok, "")
	require.Equal(t, http.StatusOK, code)
	data := body["data"].(map[string]any)
	require.Equal(t, map[string]any{"password": "x"}, data["data"])
	require.EqualValues(t, 1, data["metadata"].(map[string]any)["version"])

	for _, list := range []struct{ method, path string }{{"LIST", "/v1/secret/metadata/a"}, {http.MethodGet, "/v1/secret/metadata/?list=true"}} {
		code, body = do(t, s, list.method, list.path, tok, "")
		require.Equal(t, http.StatusOK, code)
		want := []any{"b"}
		if strings.Contains(list.path, "?") {
			want = []any{"a/"}
		}
		require.Equal(t, want, body["data"].(map[string]any)["keys"])
	}

	code, body = do(t, s, http.MethodGet, "/v1/secret/metadata/a/b", tok, "")
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, 1, body["data"].(map[string]any)["current_version"])

	code, _ = do(t, s, http.MethodDelete, "/v1/secret/metadata/a/b", tok, "")
	require.Equal(t, http.StatusNoContent, code)
	code, body = do(t, s, "LIST", "/v1/secret/metadata/a", tok, "")
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, map[string]any{"errors": []any{}}, body)

	code, body = do(t, s, http.MethodGet, "/v1/auth/token/lookup-self", tok, "")
	require.Equal(t, http.StatusOK, code)
	data = body["data"].(map[string]any)
	require.EqualValues(t, 3600, data["creation_ttl"])
	require.Equal(t, true, data["renewable"])

	// Renewal past the max TTL is capped, with Vault's warning.
	code, body = do(t, s, http.MethodPut, "/v1/auth/token/renew-self", tok, `{"increment":"1h"}`)
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, 3600, body["auth"].(map[string]any)["lease_duration"])
	code, body = do(t, s, http.MethodPut, "/v1/auth/token/renew-self", tok, `{"increment":7200}`)
	require.Equal(t, http.StatusOK, code)
	lease := body["auth"].(map[string]any)["lease_duration"].(float64)
	require.InDelta(t, 5400, lease, 2)
	require.Contains(t, body["warnings"].([]any)[0], "exceeded the effective max_ttl")
	require.Equal(t, 1, s.Stats().CappedRenewals)

	fixed := s.CreateToken(TokenSpec{TTL: time.Hour})
	code, body = do(t, s, http.MethodPut, "/v1/auth/token/renew-self", fixed, `{}`)
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, []any{"lease is not renewable"}, body["errors"])
}

func TestLoginsAndExpiry(t *testing.T) {
	s := New()
	defer s.Close()
	s.AddAppRole("dm", "rid", "sid", TokenSpec{TTL: time.Second, Renewable: true, Policies: []string{"dm"}})
	s.AddKubernetesRole("orch-svc", TokenSpec{TTL: time.Hour}, "jwt-a")

	code, body := do(t, s, http.MethodPost, "/v1/auth/approle/login", "hvs.ignored", `{"role_id":"rid","secret_id":"nope"}`)
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, []any{"invalid role or secret ID"}, body["errors"])

	code, body = do(t, s, http.MethodPost, "/v1/auth/approle/login", "", `{"role_id":"rid","secret_id":"sid"}`)
	require.Equal(t, http.StatusOK, code)
	auth := body["auth"].(map[string]any)
	require.EqualValues(t, 1, auth["lease_duration"])
	require.Equal(t, true, auth["renewable"])
	require.Equal(t, []any{"default", "dm"}, auth["policies"])
	tok := auth["client_token"].(string)
	require.True(t, strings.HasPrefix(tok, "hvs."))

	code, _ = do(t, s, http.MethodPost, "/v1/auth/kubernetes/login", "", `{"role":"orch-svc","jwt":"jwt-b"}`)
	require.Equal(t, http.StatusForbidden, code)
	code, body = do(t, s, http.MethodPost, "/v1/auth/kubernetes/login", "", `{"role":"other","jwt":"jwt-a"}`)
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, []any{`invalid role name "other"`}, body["errors"])
	code, _ = do(t, s, http.MethodPost, "/v1/auth/kubernetes/login", "", `{"role":"orch-svc","jwt":"jwt-a"}`)
	require.Equal(t, http.StatusOK, code)

	code, _ = do(t, s, http.MethodGet, "/v1/auth/token/lookup-self", tok, "")
	require.Equal(t, http.StatusOK, code)
	time.Sleep(1100 * time.Millisecond) // the token's TTL is the thing under test
	code, _ = do(t, s, http.MethodGet, "/v1/auth/token/lookup-self", tok, "")
	require.Equal(t, http.StatusForbidden, code, "an expired token is refused")
}

// An outage: while down the address refuses connections; after Up the same address answers with the same state.
func TestDownUp(t *testing.T) {
	s := New()
	defer s.Close()
	tok := s.CreateToken(TokenSpec{})
	code, _ := do(t, s, http.MethodPost, "/v1/secret/data/x", tok, `{"data":{"k":"v"}}`)
	require.Equal(t, http.StatusOK, code)

	s.Down()
	_, err := http.Get(s.URL + "/v1/secret/data/x")
	require.Error(t, err, "a down stand-in must refuse connections")

	require.NoError(t, s.Up())
	code, body := do(t, s, http.MethodGet, "/v1/secret/data/x", tok, "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "v", body["data"].(map[string]any)["data"].(map[string]any)["k"])
}
