package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

func TestHandler(t *testing.T) {
	reg := NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "dmm_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Inc()
	srv := httptest.NewServer(Handler(reg, false))
	defer srv.Close()

	resp, err := http.Get(srv.URL + Path)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "dmm_test_total 1")
	require.Contains(t, string(body), "go_goroutines")

	for _, path := range []string{"/other", "/debug/pprof/", "/debug/pprof/heap"} {
		resp, err = http.Get(srv.URL + path)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusNotFound, resp.StatusCode, path)
	}
}

// TestHandlerProfiling: with -enableProfiling the runtime profiles are served beside the metrics.
func TestHandlerProfiling(t *testing.T) {
	srv := httptest.NewServer(Handler(NewRegistry(), true))
	defer srv.Close()
	for path, want := range map[string]string{"/debug/pprof/": "goroutine", "/debug/pprof/heap?debug=1": "heap profile",
		"/debug/pprof/cmdline": "", "/debug/pprof/profile?seconds=1": "", Path: "go_goroutines"} {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Contains(t, string(body), want, path)
	}
}

func TestRecoverPanicCountsAndHandsOver(t *testing.T) {
	reg := NewRegistry()
	var got any
	func() {
		defer RecoverPanic("test", zerolog.Nop(), func(v any) { got = v })
		panic("boom")
	}()
	require.Equal(t, "boom", got)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "dm_manager_panics_recovered_total" {
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == "test" && m.GetCounter().GetValue() >= 1 {
					found = true
				}
			}
		}
	}
	require.True(t, found, "panic counted")
}
