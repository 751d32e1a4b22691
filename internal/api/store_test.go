package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/internal/store/storetest"
)

// flakySecrets is the real secret store with writes that can be made to fail.
type flakySecrets struct {
	secrets.Store
	mu               sync.Mutex
	failPut, failDel bool
}

func (f *flakySecrets) Put(ctx context.Context, path string, data map[string]string) error {
	f.mu.Lock()
	fail := f.failPut
	f.mu.Unlock()
	if fail {
		return errBoom
	}
	return f.Store.Put(ctx, path, data)
}

func (f *flakySecrets) Delete(ctx context.Context, path string) error {
	f.mu.Lock()
	fail := f.failDel
	f.mu.Unlock()
	if fail {
		return errBoom
	}
	return f.Store.Delete(ctx, path)
}

func (f *flakySecrets) set(put, del bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failPut, f.failDel = put, del
}

// The domain routes over the real store (Postgres, its migrations) and the embedded secret backend, in the
// throwaway database dmm_api_test.
func TestWithRealStore(t *testing.T) {
	dsn, drop, err := storetest.CreateDatabase("dmm_api_test")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, drop()) })
	ctx := context.Background()
	st, err := store.Open(ctx, dsn, store.ConnectOptions{}, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(st.Close)
	require.NoError(t, st.Migrate(ctx))
	for _, id := range []string{tenantA, tenantB} {
		_, err := st.UpsertTenant(ctx, store.Tenant{ID: id})
		require.NoError(t, err)
	}
	_, err = st.UpsertDevice(ctx, store.Device{GUID: guidA, TenantID: tenantA, AMTVersion: "16.1.25"})
	require.NoError(t, err)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealed, err := secrets.Open(ctx, secrets.Options{Backend: secrets.BackendEmbedded, Key: base64.StdEncoding.EncodeToString(key)},
		st, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(sealed.Close)
	sec := &flakySecrets{Store: sealed}
	e := newEnv(t, func(o *Options) { o.Domains, o.Secrets, o.Devices = StoreDomains(st), sec, st })
	tok := rw(t, tenantA)
	p := certtest.New(t)
	path, err := secrets.Domain(tenantA, "corp")
	require.NoError(t, err)

	code, body, _ := e.do(http.MethodPost, domainsPath(tenantA), tok, upload(t, "Corp", p))
	require.Equal(t, http.StatusCreated, code, string(body))
	v1 := decode[map[string]any](t, body)["version"].(string)
	row, err := st.GetDomain(ctx, tenantA, "Corp")
	require.NoError(t, err)
	require.Equal(t, "example.com", row.DomainSuffix)
	require.True(t, row.ExpiresAt.Equal(p.Leaf.NotAfter), "%v vs %v", row.ExpiresAt, p.Leaf.NotAfter)
	require.Len(t, row.RootSHA256, 64)
	stored, err := sealed.Get(ctx, path)
	require.NoError(t, err)
	require.Equal(t, certtest.Password, stored[secrets.KeyPassword])

	code, body, _ = e.do(http.MethodGet, domainsPath(tenantA)+"/corp", tok, nil)
	require.Equal(t, http.StatusOK, code, "found ignoring case: %s", body)

	code, body, _ = e.do(http.MethodPost, domainsPath(tenantA), tok, upload(t, "CORP", p))
	require.Equal(t, http.StatusConflict, code)
	require.Contains(t, decode[errorBody](t, body).Message, "profile name")
	dupSuffix := upload(t, "other", p)
	dupSuffix["domainSuffix"] = "EXAMPLE.com"
	code, body, _ = e.do(http.MethodPost, domainsPath(tenantA), tok, dupSuffix)
	require.Equal(t, http.StatusConflict, code)
	require.Contains(t, decode[errorBody](t, body).Message, "domain suffix")

	// The secret write fails: the row is rolled back.
	sec.set(true, false)
	second := upload(t, "second", p)
	second["domainSuffix"] = "a.example.com"
	code, _, _ = e.do(http.MethodPost, domainsPath(tenantA), tok, second)
	require.Equal(t, http.StatusInternalServerError, code)
	_, err = st.GetDomain(ctx, tenantA, "second")
	require.ErrorIs(t, err, store.ErrNotFound)
	sec.set(false, false)

	code, body, _ = e.do(http.MethodPatch, domainsPath(tenantA), tok, map[string]string{"profileName": "corp",
		"domainSuffix": "b.example.com", "version": v1})
	require.Equal(t, http.StatusOK, code, string(body))
	v2 := decode[map[string]any](t, body)["version"].(string)
	require.NotEqual(t, v1, v2)
	row, err = st.GetDomain(ctx, tenantA, "Corp")
	require.NoError(t, err)
	require.Equal(t, "b.example.com", row.DomainSuffix)
	code, _, _ = e.do(http.MethodPatch, domainsPath(tenantA), tok, map[string]string{"profileName": "corp",
		"domainSuffix": "c.example.com", "version": v1})
	require.Equal(t, http.StatusConflict, code, "stale version")

	// The secret delete fails: the row stays.
	sec.set(false, true)
	code, _, _ = e.do(http.MethodDelete, domainsPath(tenantA)+"/corp", tok, nil)
	require.Equal(t, http.StatusInternalServerError, code)
	_, err = st.GetDomain(ctx, tenantA, "Corp")
	require.NoError(t, err)
	sec.set(false, false)
	code, _, _ = e.do(http.MethodDelete, domainsPath(tenantA)+"/CORP", tok, nil)
	require.Equal(t, http.StatusNoContent, code)
	_, err = st.GetDomain(ctx, tenantA, "Corp")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = sealed.Get(ctx, path)
	require.ErrorIs(t, err, secrets.ErrNotFound)

	const unknown = "abcdefab-1234-4567-89ab-abcdefabcdef"
	code, _, _ = e.do(http.MethodPost, domainsPath(unknown), rw(t, unknown), upload(t, "corp", p))
	require.Equal(t, http.StatusServiceUnavailable, code)

	code, body, _ = e.do(http.MethodGet, devicePath(tenantA, "devices", guidA), tok, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, "16.1.25", decode[deviceJSON](t, body).DeviceInfo.FWVersion)
	code, _, _ = e.do(http.MethodGet, devicePath(tenantB, "devices", guidA), rw(t, tenantB), nil)
	require.Equal(t, http.StatusNotFound, code)
}
