package rps_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
	"github.com/dmrm/dm-manager/internal/rps"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/internal/store/storetest"
	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/amtsim/rpc"
)

// The tests run against the real store and the embedded secrets backend on a throwaway database, real
// websockets on loopback, and simulated AMT devices driven by the simulator's rpc-go client.
var (
	testStore   *store.Store
	testSecrets secrets.Store
)

const (
	tenantPassword = "Intel123!"
	ciraAddress    = "cira.example.com:4433"
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	flag.Parse()
	if fuzzing() {
		return m.Run() // fuzz workers run TestMain too; they must not recreate the shared database
	}
	ctx := context.Background()
	dsn, drop, err := storetest.CreateDatabase("dmm_rps_test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = drop() }()
	testStore, err = store.Open(ctx, dsn, store.ConnectOptions{}, zerolog.Nop())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := testStore.Migrate(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	key := make([]byte, secrets.KeySize)
	_, _ = rand.Read(key)
	testSecrets, err = secrets.Open(ctx, secrets.Options{Backend: secrets.BackendEmbedded,
		Key: base64.StdEncoding.EncodeToString(key)}, testStore, zerolog.Nop())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	testSecrets.Close()
	testStore.Close()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return code
}

func fuzzing() bool {
	worker, target := flag.Lookup("test.fuzzworker"), flag.Lookup("test.fuzz")
	return (worker != nil && worker.Value.String() == "true") || (target != nil && target.Value.String() != "")
}

// hosts is an in-test Inventory: tenant/uuid -> host.
type hosts struct {
	mu sync.Mutex
	m  map[string]rps.Host
}

func (h *hosts) Get(_ context.Context, tenant, id string) (rps.Host, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	host, ok := h.m[tenant+"/"+id]
	if !ok {
		return rps.Host{}, rps.ErrHostNotFound
	}
	return host, nil
}

func (h *hosts) set(tenant, id string, host rps.Host) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.m[tenant+"/"+id] = host
}

// outcomes collects outcomes in order.
type outcomes chan rps.Outcome

func (c outcomes) Notify(o rps.Outcome) { c <- o }

type env struct {
	eng   *rps.Engine
	url   string
	hosts *hosts
	out   outcomes
	reg   *prometheus.Registry
}

func newEnv(t testing.TB, mutate func(*rps.Config)) *env {
	t.Helper()
	if testStore == nil {
		t.Skip("no test database while fuzzing")
	}
	e := &env{hosts: &hosts{m: map[string]rps.Host{}}, out: make(outcomes, 1024), reg: prometheus.NewRegistry()}
	cfg := rps.Config{
		Store: testStore, Claims: testStore, Secrets: testSecrets, Hosts: e.hosts, Outcomes: e.out, Metrics: e.reg,
		Log: testLog(), PostSetupDelay: -1, PingInterval: -1, StepTimeout: 10 * time.Second,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	eng, err := rps.New(cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(eng)
	t.Cleanup(func() {
		eng.Close()
		srv.Close()
	})
	e.eng, e.url = eng, "ws"+strings.TrimPrefix(srv.URL, "http")+"/activate"
	return e
}

var (
	ciraRootOnce sync.Once
	ciraRoot     *x509.Certificate
)

// gatewayRoot is the CIRA gateway's root CA the tenants point their devices at.
func gatewayRoot(t testing.TB) *x509.Certificate {
	ciraRootOnce.Do(func() {
		k := certtest.Key(t, 7)
		ciraRoot = certtest.Issue(t, certtest.CA("dm-manager test CIRA root"), &k.PublicKey, nil, k)
	})
	return ciraRoot
}

// newTenant records a tenant with its CIRA config, its two profiles and its static AMT password.
func newTenant(t testing.TB, policy string) string {
	t.Helper()
	ctx := context.Background()
	id := uuid.NewString()
	_, err := testStore.UpsertTenant(ctx, store.Tenant{ID: id, CIRAServerAddress: ciraAddress, PasswordPolicy: policy,
		CIRARootCertDERB64: base64.StdEncoding.EncodeToString(gatewayRoot(t).Raw)})
	require.NoError(t, err)
	// The profiles the tenant reconciler writes: CCM asks user consent for all, ACM for nothing.
	consent := map[store.Activation]store.UserConsent{store.ActivationCCM: store.ConsentAll, store.ActivationACM: store.ConsentNone}
	for _, a := range []store.Activation{store.ActivationCCM, store.ActivationACM} {
		_, err := testStore.UpsertProfile(ctx, store.Profile{TenantID: id, Name: id + "_" + string(a), Activation: a,
			CIRAConfig: id, UserConsent: consent[a]})
		require.NoError(t, err)
	}
	path, err := secrets.TenantAMTPassword(id)
	require.NoError(t, err)
	require.NoError(t, testSecrets.Put(ctx, path, map[string]string{secrets.KeyPassword: tenantPassword}))
	return id
}

// newDevice creates a simulated device and registers its host in the tenant with AMT wanted.
func (e *env) newDevice(t testing.TB, tenant string, cfg amtsim.Config) *amtsim.Device {
	t.Helper()
	d, err := amtsim.New(cfg)
	require.NoError(t, err)
	e.hosts.set(tenant, d.GUID().String(), rps.Host{ResourceID: "host-" + d.GUID().String()[:8],
		DesiredAMT: rps.AMTStateProvisioned, CurrentAMT: rps.AMTStateUnprovisioned})
	return d
}

// run performs one rpc-go session and returns its result.
func (e *env) run(t testing.TB, d *amtsim.Device, cfg rpc.Config) *rpc.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg.URL = e.url
	res, err := rpc.Run(ctx, d, cfg)
	require.NoError(t, err)
	return res
}

// outcome waits for the next outcome.
func (e *env) outcome(t testing.TB) rps.Outcome {
	t.Helper()
	select {
	case o := <-e.out:
		return o
	case <-time.After(30 * time.Second):
		t.Fatal("no outcome")
		return rps.Outcome{}
	}
}

func activate(profile string) rpc.Config {
	return rpc.Config{Command: rpc.ActivateCommand(profile, false)}
}

func deviceSecrets(t testing.TB, tenant, guid string) map[string]string {
	t.Helper()
	path, err := secrets.Device(tenant, guid)
	require.NoError(t, err)
	m, err := testSecrets.Get(context.Background(), path)
	require.NoError(t, err)
	return m
}

// histogramCount is the sample count of a histogram series whose label values are exactly values.
func histogramCount(t testing.TB, reg *prometheus.Registry, name string, values ...string) uint64 {
	t.Helper()
	if m := series(t, reg, name, values); m != nil {
		return m.GetHistogram().GetSampleCount()
	}
	return 0
}

// counter is the value of a counter series whose label values are exactly values.
func counter(t testing.TB, reg *prometheus.Registry, name string, values ...string) float64 {
	t.Helper()
	if m := series(t, reg, name, values); m != nil {
		return m.GetCounter().GetValue()
	}
	return 0
}

func series(t testing.TB, reg *prometheus.Registry, name string, values []string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				got = append(got, l.GetValue())
			}
			if slices.Equal(got, values) {
				return m
			}
		}
	}
	return nil
}

func testLog() zerolog.Logger {
	if os.Getenv("RPS_TEST_LOG") == "" {
		return zerolog.Nop()
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.DebugLevel).With().Timestamp().Logger()
}
