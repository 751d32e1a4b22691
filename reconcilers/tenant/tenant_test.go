package tenant

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	tenantv1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/tenant/v1"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/inventory"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/reconcilers/internal/queue"
)

const tn = "11111111-1111-1111-1111-111111111111"

// memStore is an in-memory Store that counts writes.
type memStore struct {
	mu       sync.Mutex
	tenants  map[string]store.Tenant
	profiles map[string]store.Profile
	devices  []store.Device
	writes   int
	deleted  chan string // receives deleted tenant ids, when set
}

func newMemStore() *memStore {
	return &memStore{tenants: map[string]store.Tenant{}, profiles: map[string]store.Profile{}}
}

func (s *memStore) GetTenant(_ context.Context, id string) (store.Tenant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[id]
	if !ok {
		return t, store.ErrNotFound
	}
	return t, nil
}

func (s *memStore) UpsertTenant(_ context.Context, t store.Tenant) (store.Tenant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenants[t.ID] = t
	s.writes++
	return t, nil
}

func (s *memStore) ListTenants(context.Context) ([]store.Tenant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ts []store.Tenant
	for _, t := range s.tenants {
		ts = append(ts, t)
	}
	return ts, nil
}

func (s *memStore) DeleteTenant(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tenants[id]; !ok {
		return store.ErrNotFound
	}
	delete(s.tenants, id)
	for k, p := range s.profiles {
		if p.TenantID == id {
			delete(s.profiles, k)
		}
	}
	s.devices = nil
	s.writes++
	if s.deleted != nil {
		s.deleted <- id
	}
	return nil
}

func (s *memStore) GetProfile(_ context.Context, tenantID, name string) (store.Profile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.profiles[tenantID+"/"+name]
	if !ok {
		return p, store.ErrNotFound
	}
	return p, nil
}

func (s *memStore) UpsertProfile(_ context.Context, p store.Profile) (store.Profile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tenants[p.TenantID]; !ok {
		return p, store.ErrUnknownTenant
	}
	s.profiles[p.TenantID+"/"+p.Name] = p
	s.writes++
	return p, nil
}

func (s *memStore) ListDevicesByTenant(_ context.Context, _ string) ([]store.Device, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]store.Device(nil), s.devices...), nil
}

type memSecrets struct {
	mu   sync.Mutex
	data map[string]map[string]string
}

func (m *memSecrets) Get(_ context.Context, path string) (map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.data[path]
	if !ok {
		return nil, secrets.ErrNotFound
	}
	return d, nil
}

func (m *memSecrets) CreateIfAbsent(_ context.Context, path string, data map[string]string) (map[string]string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.data[path]; ok {
		return cur, false, nil
	}
	m.data[path] = data
	return data, true, nil
}

func (m *memSecrets) DeletePrefix(_ context.Context, prefix string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := range m.data {
		if strings.HasPrefix(p, prefix) {
			delete(m.data, p)
		}
	}
	return nil
}

type fixedCA string

func (c fixedCA) RootDERBase64() string { return string(c) }

// memLeader leads (or not) for ever; its fenced writes go straight to st.
type memLeader struct {
	leading bool
	st      Store
}

func (l memLeader) IsLeader(context.Context) (bool, error) { return l.leading, nil }

func (l memLeader) Fenced(_ context.Context, fn func(Store) error) error { return fn(l.st) }

// inv is the Inventory view of tenants: absent means hard-deleted.
type inv map[string]tenantv1.TenantState

func (i inv) GetTenant(_ context.Context, id string) (*tenantv1.Tenant, error) {
	s, ok := i[id]
	if !ok {
		return nil, inventory.ErrNotFound
	}
	return &tenantv1.Tenant{TenantId: id, DesiredState: s}, nil
}

type fixture struct {
	r       *Reconciler
	st      *memStore
	sec     *memSecrets
	inv     inv
	pwCalls int
}

func newFixture(t *testing.T, policy string, leader bool) *fixture {
	f := &fixture{st: newMemStore(), sec: &memSecrets{data: map[string]map[string]string{}},
		inv: inv{tn: tenantv1.TenantState_TENANT_STATE_CREATED}}
	r, err := New(Config{CIRAServerAddress: "mps.example.com:4433", PasswordPolicy: policy, Log: zerolog.Nop()},
		Deps{Tenants: f.inv, Store: f.st, Secrets: f.sec, CA: fixedCA("MIIB"), Leader: memLeader{leader, f.st},
			Password: func() (string, error) { f.pwCalls++; return "Aa1!pass-word", nil }})
	require.NoError(t, err)
	t.Cleanup(r.Stop)
	f.r = r
	return f
}

func TestNewValidates(t *testing.T) {
	deps := Deps{Tenants: inv{}, Store: newMemStore(), Secrets: &memSecrets{}, CA: fixedCA(""), Leader: memLeader{leading: true}}
	_, err := New(Config{CIRAServerAddress: "x:4433", PasswordPolicy: "weak"}, deps)
	require.ErrorContains(t, err, `-passwordPolicy "weak"`)
	_, err = New(Config{}, deps)
	require.ErrorContains(t, err, "-ciraServerAddress")
	_, err = New(Config{CIRAServerAddress: "x:4433"}, Deps{})
	require.ErrorContains(t, err, "required")
}

func TestEnsureStatic(t *testing.T) {
	f := newFixture(t, PolicyStatic, true)
	ctx := context.Background()
	require.Equal(t, queue.Result{}, f.r.reconcile(ctx, tn))
	require.Equal(t, store.Tenant{ID: tn, CIRAServerAddress: "mps.example.com:4433", CIRARootCertDERB64: "MIIB",
		PasswordPolicy: PolicyStatic}, f.st.tenants[tn])
	require.Equal(t, store.Profile{TenantID: tn, Name: tn + "_ccm", Activation: store.ActivationCCM, CIRAConfig: tn,
		UserConsent: store.ConsentAll}, f.st.profiles[tn+"/"+tn+"_ccm"])
	require.Equal(t, store.Profile{TenantID: tn, Name: tn + "_acm", Activation: store.ActivationACM, CIRAConfig: tn,
		UserConsent: store.ConsentNone}, f.st.profiles[tn+"/"+tn+"_acm"])
	path, _ := secrets.TenantAMTPassword(tn)
	require.Equal(t, map[string]string{"password": "Aa1!pass-word"}, f.sec.data[path])
	require.Equal(t, 3, f.st.writes)

	// Idempotent: nothing written again, the password generated once.
	require.Equal(t, queue.Result{}, f.r.reconcile(ctx, tn))
	require.Equal(t, 3, f.st.writes)
	require.Equal(t, 1, f.pwCalls)

	// A new gateway CA is recorded; profiles untouched.
	f.r.deps.CA = fixedCA("MIIC")
	f.r.reconcile(ctx, tn)
	require.Equal(t, 4, f.st.writes)
	require.Equal(t, "MIIC", f.st.tenants[tn].CIRARootCertDERB64)
}

func TestEnsureDynamicHasNoTenantPassword(t *testing.T) {
	f := newFixture(t, PolicyDynamic, true)
	f.r.reconcile(context.Background(), tn)
	require.Empty(t, f.sec.data)
	require.Equal(t, 0, f.pwCalls)
	require.Equal(t, PolicyDynamic, f.st.tenants[tn].PasswordPolicy)
}

func TestNotLeaderDoesNothing(t *testing.T) {
	f := newFixture(t, PolicyStatic, false)
	require.Equal(t, queue.Result{}, f.r.reconcile(context.Background(), tn))
	require.Zero(t, f.st.writes)
}

func TestDeletion(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, PolicyStatic, true)
	f.r.reconcile(ctx, tn)
	f.sec.data["tenants/"+tn+"/devices/22222222-2222-2222-2222-222222222222"] = map[string]string{"amt_password": "x"}
	f.sec.data["gateway/ca"] = map[string]string{"cert_pem": "x"}

	// Soft-deleted with an activated device: wait for the host reconciler to deactivate it.
	f.inv[tn] = tenantv1.TenantState_TENANT_STATE_DELETED
	f.st.devices = []store.Device{{GUID: "22222222-2222-2222-2222-222222222222", TenantID: tn, ActivationState: store.StateActivated}}
	require.Equal(t, queue.Result{After: 30 * time.Second}, f.r.reconcile(ctx, tn))
	require.Contains(t, f.st.tenants, tn)

	// Device gone (or never activated): everything of the tenant is removed, nothing of others.
	f.st.devices = []store.Device{{TenantID: tn, ActivationState: store.StateUnprovisioned}}
	require.Equal(t, queue.Result{}, f.r.reconcile(ctx, tn))
	require.Empty(t, f.st.tenants)
	require.Empty(t, f.st.profiles)
	require.Equal(t, map[string]map[string]string{"gateway/ca": {"cert_pem": "x"}}, f.sec.data)

	// Hard-deleted and already clean: nothing to do.
	delete(f.inv, tn)
	require.Equal(t, queue.Result{}, f.r.reconcile(ctx, tn))
}

func TestRunCleansUpTenantsGoneFromInventory(t *testing.T) {
	f := newFixture(t, PolicyStatic, true)
	f.r.reconcile(context.Background(), tn)
	delete(f.inv, tn) // hard-deleted while no event reached us
	f.st.deleted = make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.r.Run(ctx) }()
	require.Equal(t, tn, <-f.st.deleted)
	cancel()
	require.NoError(t, <-done)
}

func TestInventoryErrorsRetry(t *testing.T) {
	f := newFixture(t, PolicyStatic, true)
	f.r.deps.Tenants = failing{}
	require.Error(t, f.r.reconcile(context.Background(), tn).Err)
	require.Empty(t, f.st.tenants)
}

type failing struct{}

func (failing) GetTenant(context.Context, string) (*tenantv1.Tenant, error) {
	return nil, errors.New("inventory unavailable")
}
