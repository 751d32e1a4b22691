package southbound_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/dmrm/dm-manager/internal/auth"
	"github.com/dmrm/dm-manager/internal/auth/authtest"
	"github.com/dmrm/dm-manager/internal/inventory"
	"github.com/dmrm/dm-manager/internal/southbound"
	"github.com/dmrm/dm-manager/internal/southbound/pb"
	"github.com/dmrm/dm-manager/internal/testlog"
	"github.com/dmrm/dm-manager/test/invtest"
)

func TestMain(m *testing.M) { invtest.Main(m) }

// domains and passwords are the tests' own implementations of the server's two lookups.
type domains struct {
	mu  sync.Mutex
	has map[string]bool
	err error
}

func (d *domains) HasDomain(_ context.Context, tenant string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.has[tenant], d.err
}

type passwords struct {
	mu  sync.Mutex
	pw  map[string]string // tenant -> password (static policy)
	err error
}

func (p *passwords) ActivationPassword(_ context.Context, tenant, _ string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return "", p.err
	}
	pw, ok := p.pw[tenant]
	if !ok {
		return "", errors.New("no password")
	}
	return pw, nil
}

type env struct {
	inv       *inventory.Client
	client    pb.DeviceManagementClient
	domains   *domains
	passwords *passwords
	issuer    *authtest.Issuer
	logs      *testlog.Buffer
	reports   *reportLog
}

// reportLog records the server's OnActivationReport calls as "tenant/uuid".
type reportLog struct {
	mu    sync.Mutex
	calls []string
}

func (r *reportLog) add(tenant, hostUUID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, tenant+"/"+hostUUID)
}

// take returns the calls so far and forgets them.
func (r *reportLog) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

// newEnv starts the southbound server on a loopback TCP port over the real Inventory. authOn selects a
// Verifier accepting HS256 (authtest.Secret) and RS256/PS256 from an in-test OIDC issuer.
func newEnv(t *testing.T, authOn bool) *env {
	t.Helper()
	e := &env{
		domains:   &domains{has: map[string]bool{}},
		passwords: &passwords{pw: map[string]string{}},
		logs:      &testlog.Buffer{},
		reports:   &reportLog{},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inv, err := inventory.New(ctx, inventory.Config{
		Address: invtest.Address, DialOptions: invtest.DialOptions(), Insecure: true,
		Name: "dm-southbound-" + t.Name(), ResyncPeriod: time.Hour,
	})
	require.NoError(t, err)
	t.Cleanup(inv.Close)
	e.inv = inv

	var v *auth.Verifier
	if authOn {
		e.issuer = authtest.NewIssuer(t)
		v, err = auth.NewVerifier(auth.Config{SharedSecret: authtest.Secret, OIDCServerURL: e.issuer.URL()})
		require.NoError(t, err)
	}
	srv, err := southbound.New(southbound.Config{
		Hosts: inv, Domains: e.domains, Passwords: e.passwords, Verifier: v, Log: zerolog.New(e.logs),
		OnActivationReport: e.reports.add,
	})
	require.NoError(t, err)
	g := srv.NewGRPCServer()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	e.client = pb.NewDeviceManagementClient(conn)
	return e
}

// agentCtx is what PMA sends: a bearer token in "authorization", plus extra metadata pairs.
func agentCtx(t *testing.T, token string, kv ...string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	if token != "" {
		kv = append(kv, "authorization", "Bearer "+token)
	}
	return metadata.NewOutgoingContext(ctx, metadata.Pairs(kv...))
}

// agentToken is an HS256 token with the agent role in the given projects.
func agentToken(t *testing.T, tenants ...string) string {
	t.Helper()
	return authtest.HS256(t, authtest.Claims(authtest.ENRoles(tenants...)...))
}
