package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/internal/store/storetest"
)

func eventsPath(tenant string) string { return "/v1/projects/" + tenant + "/dm/events" }

// The audit trail over the real store: tenant-scoped by role, filtered by device, time and count, newest first.
func TestEventsRoute(t *testing.T) {
	dsn, drop, err := storetest.CreateDatabase("dmm_apievents_test")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, drop()) })
	ctx := context.Background()
	st, err := store.Open(ctx, dsn, store.ConnectOptions{}, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(st.Close)
	require.NoError(t, st.Migrate(ctx))
	t0 := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	var recs []store.EventRecord
	add := func(tenant, guid, kind string, at time.Time) {
		id := uuid.NewString()
		recs = append(recs, store.EventRecord{ID: id, TenantID: tenant, GUID: guid, Kind: kind, At: at,
			Payload: json.RawMessage(fmt.Sprintf(`{"version":1,"id":%q,"kind":%q,"tenant":%q,"guid":%q}`, id, kind, tenant, guid))})
	}
	add(tenantA, guidA, "cira_connected", t0)
	add(tenantA, guidOff, "cira_connected", t0.Add(time.Second))
	add(tenantA, guidA, "power_done", t0.Add(2*time.Second))
	add(tenantB, guidB, "cira_connected", t0.Add(3*time.Second))
	require.NoError(t, st.InsertEvents(ctx, recs))
	e := newEnv(t, func(o *Options) { o.Events = st })

	kinds := func(body []byte) []string {
		var out struct {
			Events []struct {
				Kind   string `json:"kind"`
				Tenant string `json:"tenant"`
			} `json:"events"`
		}
		require.NoError(t, json.Unmarshal(body, &out), string(body))
		ks := []string{}
		for _, ev := range out.Events {
			require.Equal(t, tenantA, ev.Tenant, "only the project's events")
			ks = append(ks, ev.Kind)
		}
		return ks
	}
	for _, tc := range []struct {
		name  string
		query string
		tok   string
		code  int
		want  []string
	}{
		{"tenant, read-only role", "", ro(t, tenantA), 200, []string{"power_done", "cira_connected", "cira_connected"}},
		{"device", "?guid=" + guidA, rw(t, tenantA), 200, []string{"power_done", "cira_connected"}},
		{"since", "?since=" + url.QueryEscape(t0.Add(time.Second).Format(time.RFC3339)), ro(t, tenantA), 200,
			[]string{"power_done", "cira_connected"}},
		{"top", "?$top=1", ro(t, tenantA), 200, []string{"power_done"}},
		{"other project's role", "", ro(t, tenantB), 403, nil},
		{"no token", "", "", 401, nil},
		{"bad guid", "?guid=x", ro(t, tenantA), 400, nil},
		{"bad since", "?since=yesterday", ro(t, tenantA), 400, nil},
		{"top too large", "?$top=1001", ro(t, tenantA), 400, nil},
		{"top zero", "?$top=0", ro(t, tenantA), 400, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := e.do(http.MethodGet, eventsPath(tenantA)+tc.query, tc.tok, nil)
			require.Equal(t, tc.code, code, string(body))
			if tc.want != nil {
				require.Equal(t, tc.want, kinds(body))
			}
		})
	}

	off := newEnv(t)
	code, _, _ := off.do(http.MethodGet, eventsPath(tenantA), ro(t, tenantA), nil)
	require.Equal(t, http.StatusServiceUnavailable, code, "no audit trail configured")
}

func TestAsyncAPIServed(t *testing.T) {
	e := newEnv(t)
	code, body, hdr := e.do(http.MethodGet, "/asyncapi.yaml", "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "application/yaml", hdr.Get("Content-Type"))
	require.Equal(t, asyncAPISpec, body)
}
