package ciragw

import (
	"context"
	"crypto/elliptic"
	"crypto/tls"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/dmrm/dm-manager/test/amtsim/apfclient"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		runIdleClients()
		return
	}
	goleak.VerifyTestMain(m)
}

// The doc's device (§3): UUID 4c4c4544-..., user admin, password P@ssw0rd.
const (
	docGUID  = "4c4c4544-004b-4210-8033-b6c04f504633"
	docUser  = "admin"
	docPass  = "P@ssw0rd"
	tenantA  = "tenant-a"
	certName = "cira.test"
)

type memCAStore struct {
	mu       sync.Mutex
	cert, ky []byte
	saves    int
}

func (s *memCAStore) Load(context.Context) ([]byte, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cert == nil {
		return nil, nil, ErrNoCA
	}
	return s.cert, s.ky, nil
}

func (s *memCAStore) Create(_ context.Context, c, k []byte) ([]byte, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cert == nil {
		s.cert, s.ky = c, k
		s.saves++
	}
	return s.cert, s.ky, nil
}

// testPKI is one CA and server certificate for the whole test binary: RSA
// 3072 generation is slow on a shared machine.
var testPKI = sync.OnceValues(func() (*CA, tls.Certificate) {
	ca, err := LoadOrCreateCA(context.Background(), &memCAStore{})
	if err != nil {
		panic(err)
	}
	cert, err := ca.ServerCertificate(certName, "127.0.0.1")
	if err != nil {
		panic(err)
	}
	return ca, cert
})

// testECDSACerts are the P-256 and P-384 server certificates of the same CA, in that order, which startGateway
// also serves as the product does.
var testECDSACerts = sync.OnceValue(func() []tls.Certificate {
	ca, _ := testPKI()
	var certs []tls.Certificate
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		cert, err := ca.ServerCertificateECDSA(curve, certName, "127.0.0.1")
		if err != nil {
			panic(err)
		}
		certs = append(certs, cert)
	}
	return certs
})

type device struct{ user, pass, tenant string }

type fakeAuth struct {
	mu      sync.Mutex
	devices map[string]device
	calls   int
	err     error // forced backend error
}

func newFakeAuth() *fakeAuth {
	return &fakeAuth{devices: map[string]device{docGUID: {docUser, docPass, tenantA}}}
}

func (a *fakeAuth) add(guid, pass string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.devices[guid] = device{docUser, pass, tenantA}
}

func (a *fakeAuth) Authenticate(_ context.Context, guid, user, pass string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	if a.err != nil {
		return "", a.err
	}
	d, ok := a.devices[guid]
	switch {
	case !ok:
		return "", ErrUnknownDevice
	case d.user != user || d.pass != pass:
		return "", ErrBadCredentials
	}
	return d.tenant, nil
}

func (a *fakeAuth) setErr(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.err = err
}

func (a *fakeAuth) callCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls
}

// presenceLog records every batch written.
type presenceLog struct {
	mu      sync.Mutex
	batches [][]Presence
	wrote   chan struct{}
}

func newPresenceLog() *presenceLog { return &presenceLog{wrote: make(chan struct{}, 100)} }

func (p *presenceLog) WritePresence(_ context.Context, b []Presence) error {
	p.mu.Lock()
	p.batches = append(p.batches, append([]Presence(nil), b...))
	p.mu.Unlock()
	select {
	case p.wrote <- struct{}{}:
	default:
	}
	return nil
}

func (p *presenceLog) all() [][]Presence {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]Presence(nil), p.batches...)
}

// latest returns the last record written for guid.
func (p *presenceLog) latest(guid string) (Presence, bool) {
	var out Presence
	found := false
	for _, b := range p.all() {
		for _, r := range b {
			if r.GUID == guid {
				out, found = r, true
			}
		}
	}
	return out, found
}

type testGateway struct {
	*Gateway
	addr string
	reg  *prometheus.Registry
	auth *fakeAuth
	stop func()
}

func testLogger() zerolog.Logger {
	if os.Getenv("CIRAGW_TEST_LOG") != "" {
		return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).With().Timestamp().Logger()
	}
	return zerolog.Nop()
}

// startGateway serves a gateway on a loopback port until the test ends.
func startGateway(t *testing.T, opts ...func(*Config)) *testGateway {
	t.Helper()
	return startGatewayOn(t, nil, opts...)
}

// startGatewayOn is startGateway with the listener wrapped by wrap (nil: as it is).
func startGatewayOn(t *testing.T, wrap func(net.Listener) net.Listener, opts ...func(*Config)) *testGateway {
	t.Helper()
	_, cert := testPKI()
	auth := newFakeAuth()
	reg := prometheus.NewRegistry()
	cfg := Config{
		Certificate:       cert,
		ECDSACertificates: testECDSACerts(),
		Authenticator:     auth,
		Registerer:        reg,
		Logger:            testLogger(),
		HandshakeTimeout:  5 * time.Second,
		OpenTimeout:       5 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	g, err := New(cfg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	if wrap != nil {
		ln = wrap(ln)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
		})
	}
	t.Cleanup(stop)
	return &testGateway{Gateway: g, addr: ln.Addr().String(), reg: reg, auth: auth, stop: stop}
}

// startClient runs an apfclient against tg until the test ends.
func startClient(t *testing.T, tg *testGateway, guid, pass string, handler func(net.Conn), opts ...func(*apfclient.Config)) *apfclient.Client {
	t.Helper()
	ca, _ := testPKI()
	cfg := apfclient.Config{
		ServerAddr: tg.addr,
		RootCA:     ca.RootPEM(),
		ServerName: certName,
		Username:   docUser,
		Password:   pass,
		GUID:       guid,
		Handler:    handler,
		MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond,
		Logger:     testLogger(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := apfclient.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return c
}

func waitConnected(t *testing.T, c *apfclient.Client, connects int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.WaitFor(ctx, func(s apfclient.State) bool { return s.Connected && s.Connects >= connects })
	require.NoError(t, err)
}

func waitEvent(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
	return Event{}
}

func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// eventually polls cond; for state that has no signal to wait on.
func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 5*time.Millisecond, what)
}
