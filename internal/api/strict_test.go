package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
	"github.com/dmrm/dm-manager/internal/metrics"
)

func TestBodyStrictness(t *testing.T) {
	e := newEnv(t)
	p := certtest.New(t)
	good := string(mustJSON(t, upload(t, "strict", p)))
	tests := []struct {
		name, contentType, body string
		want                    int
		wantText                string
	}{
		{"text/plain", "text/plain", good, http.StatusUnsupportedMediaType, "Content-Type: application/json"},
		{"no content type", "", good, http.StatusUnsupportedMediaType, "application/json"},
		{"form", "application/x-www-form-urlencoded", "profileName=x", http.StatusUnsupportedMediaType, "application/json"},
		{"trailing garbage", "application/json", good + "garbage", http.StatusBadRequest, "data after the JSON object"},
		{"two objects", "application/json", good + good, http.StatusBadRequest, "data after the JSON object"},
		{"empty", "application/json", "", http.StatusBadRequest, "not a valid JSON object"},
		{"truncated", "application/json", good[:20], http.StatusBadRequest, "not a valid JSON object"},
		{"json with charset and trailing newline", "application/json; charset=utf-8", good + "\n", http.StatusCreated, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := e.do(http.MethodPost, domainsPath(tenantA), rw(t, tenantA), []byte(tc.body),
				"Content-Type", tc.contentType)
			require.Equal(t, tc.want, code, string(body))
			require.Contains(t, string(body), tc.wantText)
		})
	}
}

func TestCanonicalProjectIDs(t *testing.T) {
	e := newEnv(t)
	tok := ro(t, tenantA)
	for _, project := range []string{"{" + tenantA + "}", "urn:uuid:" + tenantA, strings.ToUpper(tenantA),
		strings.ReplaceAll(tenantA, "-", "")} {
		t.Run(project, func(t *testing.T) {
			code, body, _ := e.do(http.MethodGet, domainsPath(project), tok, nil)
			require.Equal(t, http.StatusBadRequest, code, string(body))
			require.Contains(t, string(body), "canonical form; use "+tenantA)
		})
	}
	code, _, _ := e.do(http.MethodGet, domainsPath(tenantA), tok, nil)
	require.Equal(t, http.StatusOK, code)
}

func TestTopCapped(t *testing.T) {
	e := newEnv(t)
	tok := ro(t, tenantA)
	tests := []struct {
		query string
		want  int
	}{
		{"$top=9223372036854775807", http.StatusBadRequest},
		{fmt.Sprintf("$top=%d", MaxTop+1), http.StatusBadRequest},
		{fmt.Sprintf("$top=%d", MaxTop), http.StatusOK},
		{"$skip=9223372036854775807&$top=500", http.StatusOK}, // no overflow of skip+top
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			code, body, _ := e.do(http.MethodGet, domainsPath(tenantA)+"?"+tc.query, tok, nil)
			require.Equal(t, tc.want, code, string(body))
			if tc.want == http.StatusBadRequest {
				require.Contains(t, string(body), "at most 500")
			}
		})
	}
}

func TestEchoedInputClipped(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("a", 100_000)
	clipped := strings.Repeat("a", maxEcho-1) + "…"
	tests := []struct {
		name, method, path string
		body               any
	}{
		{"profile name", http.MethodPost, domainsPath(tenantA), map[string]string{"profileName": long[:60_000]}},
		{"domain suffix", http.MethodPost, domainsPath(tenantA), map[string]string{"profileName": "x", "domainSuffix": long[:60_000]}},
		{"guid in path", http.MethodGet, devicePath(tenantA, "devices", long[:4000]), nil},
		{"domain in path", http.MethodGet, domainsPath(tenantA) + "/" + long[:4000], nil},
		{"no route", http.MethodGet, "/" + long[:4000], nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := e.do(tc.method, tc.path, rw(t, tenantA), tc.body)
			require.GreaterOrEqual(t, code, 400)
			require.Less(t, len(body), 2000, string(body))
			require.Contains(t, string(body), clipped, string(body))
		})
	}
}

// A slow body ends in 408 without the sockets' addresses the read error names.
func TestSlowBody(t *testing.T) {
	e := newEnv(t)
	slow := httptest.NewUnstartedServer(e.srv.Config.Handler)
	slow.Config.ReadTimeout = 300 * time.Millisecond
	slow.Start()
	t.Cleanup(slow.Close)

	conn, err := net.Dial("tcp", slow.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"profileName\":", domainsPath(tenantA), rw(t, tenantA))
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusRequestTimeout, resp.StatusCode, string(body))
	require.NotContains(t, string(body), "127.0.0.1")
	require.NotContains(t, string(body), "i/o timeout")
}

// panicAMT panics on Version, as a bug in a device read might.
type panicAMT struct{ *fakeAMT }

func (panicAMT) Version(context.Context, string, string) (amt.Version, error) {
	panic("injected: device read bug")
}

func TestPanicCostsOneRequest(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AMT = panicAMT{o.AMT.(*fakeAMT)} })
	before := panicCount(t, "rest")
	code, body, _ := e.do(http.MethodGet, devicePath(tenantA, "amt/version", guidA), ro(t, tenantA), nil)
	require.Equal(t, http.StatusInternalServerError, code)
	require.NotContains(t, string(body), "injected")
	require.Equal(t, before+1, panicCount(t, "rest"))
	require.Contains(t, e.logs.String(), "injected: device read bug")

	code, _, _ = e.do(http.MethodGet, devicePath(tenantA, "devices", guidA), ro(t, tenantA), nil)
	require.Equal(t, http.StatusOK, code, "the next request is served")
}

func panicCount(t *testing.T, component string) float64 {
	t.Helper()
	mfs, err := metrics.NewRegistry().Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "dm_manager_panics_recovered_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == component {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// FuzzDecodeBody: any body and Content-Type is either one JSON object taken, or refused with 400, 413 or 415;
// an echo is never longer than the clip allows. The strict decoder (profile PATCH) is held to the same.
func FuzzDecodeBody(f *testing.F) {
	f.Add("application/json", []byte(`{"profileName":"a"}`))
	f.Add("application/json; charset=utf-8", []byte(`{"profileName":"a"} {}`))
	f.Add("text/plain", []byte(`{}`))
	f.Add("application/json", []byte(`{"profileName":1}`))
	f.Add("", []byte(``))
	f.Add("application/json", []byte(`{"profileName":"a","kvmEnabled":true,"tlsMode":2}`))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		r.Body = http.MaxBytesReader(w, r.Body, 1024)
		var v domainBody
		var p profilePatch
		strict := len(body)%2 == 1
		ok := false
		if strict {
			ok = decodeStrictBody(w, r, &p)
		} else {
			ok = decodeBody(w, r, &v)
		}
		if ok {
			require.True(t, json.Valid(bytes.TrimSpace(body)), "%q", body)
			return
		}
		require.Contains(t, []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge,
			http.StatusUnsupportedMediaType}, w.Code)
		require.LessOrEqual(t, utf8.RuneCount(w.Body.Bytes()), 1000, "echo not clipped: %s", w.Body.String())
	})
}

// headerPanicWriter panics on the first Header call, as a bug on a handler's answer path would; the recovery's
// own answer then goes through.
type headerPanicWriter struct {
	*httptest.ResponseRecorder
	armed bool
}

func (w *headerPanicWriter) Header() http.Header {
	if w.armed {
		w.armed = false
		panic("injected: answer path bug")
	}
	return w.ResponseRecorder.Header()
}

// The routes outside the tenant table (the specs, and the catch-all that answers 404/405) are covered too.
func TestPanicOutsideTenantRoutesCostsOneRequest(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/openapi.yaml", "/asyncapi.yaml", "/no/such/route"} {
		before := panicCount(t, "rest")
		w := &headerPanicWriter{ResponseRecorder: httptest.NewRecorder(), armed: true}
		e.srv.Config.Handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		require.Equal(t, http.StatusInternalServerError, w.Code, path)
		require.NotContains(t, w.Body.String(), "injected", path)
		require.Equal(t, before+1, panicCount(t, "rest"), path)
	}
	code, _, _ := e.do(http.MethodGet, devicePath(tenantA, "devices", guidA), ro(t, tenantA), nil)
	require.Equal(t, http.StatusOK, code, "the next request is served")
}
