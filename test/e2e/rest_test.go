package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var restClient = &http.Client{Timeout: 20 * time.Second}

// rest calls dm-manager's REST API for tenant with a bearer token and returns the status and body.
func (d *dm) rest(tb testing.TB, method, tenant, path, token string, body any) (int, string) {
	tb.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(tb, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, apiURL(d, tenant, path), r)
	require.NoError(tb, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := restClient.Do(req)
	require.NoError(tb, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	answers.add("REST " + method + " " + path + ": " + string(out))
	return resp.StatusCode, string(out)
}
