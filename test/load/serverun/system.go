package serverun

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	inv_v1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/inventory/v1"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/internal/auth"
	"github.com/dmrm/dm-manager/internal/auth/authtest"
	"github.com/dmrm/dm-manager/internal/devices"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/internal/store/storetest"
	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/hip/rig"
	"github.com/dmrm/dm-manager/test/load/creds"
	"github.com/dmrm/dm-manager/test/procs"
)

// ciraName is the gateway name devices are configured with (AddMpServer); its certificate carries it.
const ciraName = "cira.load.test"

// replica is one `dm-manager serve`.
type replica struct {
	id                       string
	cira, api, metrics       string
	proc                     *procs.Proc
	before                   procSample
	keepalives0, reconciles0 float64
}

// system is everything a run started, stopped in reverse by close.
type system struct {
	o          Options
	bins       map[string]string
	inv        *procs.Proc
	invAddr    string
	replicas   []*replica
	fleets     []*procs.Proc
	fleetDebug []string // each fleet process's /debug/pprof address
	cira       string   // what devices dial: the replica, or HAProxy
	api        string   // where REST requests go
	tenant     string
	guids      []string
	caFile     string
	closers    []func()
	user       *rig.Rig // Inventory as the EIM API writes it for a user; with Options.Hosts only
}

func (s *system) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

func (s *system) say(format string, args ...any) { fmt.Fprintf(s.o.Out, "load: "+format+"\n", args...) }

// build compiles the shipped binary, the Inventory server and the fleet process.
func (s *system) build() error {
	dir := s.o.BinDir
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	pkgs := map[string]string{"dm-manager": procs.DMManagerPkg, "inventory": procs.InventoryPkg + "/cmd/server",
		"devices": "github.com/dmrm/dm-manager/test/load/devices"}
	s.bins = map[string]string{}
	for name := range pkgs {
		s.bins[name] = filepath.Join(dir, name)
	}
	return procs.Build(dir, pkgs)
}

// start brings up Postgres databases, Inventory, the replicas (and HAProxy), and the tenant.
func (s *system) start(ctx context.Context) error {
	invDSN, dropInv, err := storetest.CreateDatabase("dmm_load_inventory_test")
	if err != nil {
		return err
	}
	s.closers = append(s.closers, func() { _ = dropInv() })
	dsn, drop, err := storetest.CreateDatabase("dmm_load_test")
	if err != nil {
		return err
	}
	s.closers = append(s.closers, func() { _ = drop() })
	if s.inv, s.invAddr, err = procs.StartInventory(ctx, s.o.Dir, s.bins["inventory"], invDSN); err != nil {
		return err
	}
	s.closers = append(s.closers, func() { _ = s.inv.Stop(10 * time.Second) })

	raw := make([]byte, secrets.KeySize)
	_, _ = rand.Read(raw)
	key := base64.StdEncoding.EncodeToString(raw)
	root, err := procs.RepoRoot()
	if err != nil {
		return err
	}
	for i := range s.o.Replicas {
		r, err := s.startReplica(ctx, i, dsn, key, filepath.Join(root, "internal", "auth", "rego", "authz.rego"))
		if err != nil {
			return err
		}
		s.replicas = append(s.replicas, r)
	}
	s.cira, s.api = s.replicas[0].cira, s.replicas[0].api
	if s.o.Replicas > 1 {
		if err := s.startLBs(ctx); err != nil {
			return err
		}
	}
	if err := s.tenantUp(ctx, dsn, key); err != nil {
		return err
	}
	if err := s.importDevices(ctx, dsn, key); err != nil {
		return err
	}
	if !s.o.Hosts {
		return nil
	}
	return s.createHosts(ctx)
}

// createHosts registers a host per device in Inventory, as onboarding does in EMF (vPro enabled, desired power ON):
// a connecting device then gets what it gets in a deployment, the host reconciler's first look (its power state
// read through the new tunnel, its host's AMT and power status written to Inventory).
func (s *system) createHosts(ctx context.Context) error {
	api, err := rig.Dial(rig.Config{Address: s.invAddr, Tenant: s.tenant},
		rig.Client{Name: "load user", Kind: inv_v1.ClientKind_CLIENT_KIND_API})
	if err != nil {
		return err
	}
	s.closers = append(s.closers, api.Close) // see tenantUp
	s.user = api
	t0 := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(hostWriters)
	for _, id := range s.guids {
		g.Go(func() error {
			for attempt := 1; ; attempt++ {
				// Inventory draws a host's resource id at random (8 hex digits): among 10,000 hosts two draws
				// collide in about one run of a hundred, and that create fails on the unique key. Another draws anew.
				_, err := api.CreateHost(gctx, rig.NewHost(id, "load-"+id[:8]))
				if err == nil || attempt == 3 || !strings.Contains(err.Error(), "host_resources_resource_id_key") {
					return err
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("serverun: %w", err)
	}
	s.say("%d hosts created in Inventory (vPro enabled, desired power ON) in %.1fs", len(s.guids), time.Since(t0).Seconds())
	return nil
}

// hostWriters is how many Inventory creates run at once while the hosts are registered.
const hostWriters = 16

func (s *system) startReplica(ctx context.Context, i int, dsn, key, rbac string) (*replica, error) {
	r := &replica{id: fmt.Sprintf("replica-%d", i)}
	ports := make([]string, 7)
	for j := range ports {
		p, err := procs.FreePort()
		if err != nil {
			return nil, err
		}
		ports[j] = p
	}
	r.cira, r.api, r.metrics = ports[0], ports[1], ports[2]
	oam, rep := ports[3], ports[4]
	args := []string{"serve", "-databaseURL=" + dsn, "-inventoryAddress=" + s.invAddr, "-insecureGRPC=true",
		"-rbacRules=" + rbac, "-infraConfigPath=", "-ciraServerAddress=" + ciraName + ":4433",
		"-activationURL=wss://127.0.0.1/activate", "-replicaID=" + r.id, "-ciraAddress=" + r.cira,
		"-apiAddress=" + r.api, "-oamServerAddress=" + oam, "-activationAddress=" + ports[5],
		"-dmServerAddress=" + ports[6], "-enableMetrics", "-metricsAddress=" + r.metrics}
	env := []string{"DM_SECRETS_KEY=" + key, auth.EnvSharedSecret + "=" + authtest.Secret}
	if s.o.Replicas > 1 {
		args = append(args, "-replicaListenAddress="+rep, "-replicaAddress="+rep)
		env = append(env, "DM_REPLICA_SECRET=load-harness-replica-secret-0123456789")
	}
	if s.o.Profile {
		args = append(args, "-enableProfiling")
	}
	args = append(args, s.o.ServeFlags...)
	env = append(env, s.o.ServeEnv...)
	r.proc = &procs.Proc{Name: r.id, Bin: s.bins["dm-manager"], Args: args, Env: env,
		Log: filepath.Join(s.o.Dir, r.id+".log")}
	if err := r.proc.Start(); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() { _ = r.proc.Stop(30 * time.Second) })
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return r, procs.WaitServing(wctx, r.proc, oam)
}

// startLBs runs HAProxy in front of the replicas: CIRA in TCP mode (TLS ends at the replica), the REST API round
// robin. One HAProxy process holds two descriptors per connection, so a fleet larger than the open-file limit
// allows is spread over several processes binding the same addresses (the kernel balances them).
func (s *system) startLBs(ctx context.Context) error {
	cira, err := procs.FreePort()
	if err != nil {
		return err
	}
	api, err := procs.FreePort()
	if err != nil {
		return err
	}
	var ciraSrv, apiSrv []procs.Server
	for _, r := range s.replicas {
		ciraSrv = append(ciraSrv, procs.Server{Name: r.id, Addr: r.cira})
		apiSrv = append(apiSrv, procs.Server{Name: r.id, Addr: r.api})
	}
	// Each process is planned at 80 % of LBConns: the kernel spreads connections by hash, not evenly, and a device
	// whose connection lands on a full process waits for a retry.
	n := max(1, (s.o.N*5+s.o.LBConns*4-1)/(s.o.LBConns*4))
	maxconn := min(s.o.LBConns, s.o.N/n+s.o.N/n/5+200)
	cfg := procs.HAProxyConfig(maxconn, []procs.Frontend{{Name: "cira", Mode: "tcp", Bind: cira, Servers: ciraSrv}})
	for i := range n {
		if err := s.startLB(ctx, fmt.Sprintf("haproxy-cira-%d", i), cfg, cira); err != nil {
			return err
		}
	}
	// The REST API has a process of its own: a CIRA process's connections are all devices' by design.
	cfg = procs.HAProxyConfig(4000, []procs.Frontend{{Name: "api", Mode: "http", Bind: api, Servers: apiSrv}})
	if err := s.startLB(ctx, "haproxy-api", cfg, api); err != nil {
		return err
	}
	s.cira, s.api = cira, api
	s.say("%d HAProxy processes (maxconn %d each) on %s (CIRA), one on %s (REST)", n, maxconn, cira, api)
	return nil
}

func (s *system) startLB(ctx context.Context, name, cfg, addr string) error {
	p, err := procs.StartHAProxy(ctx, s.o.Dir, name, cfg, addr)
	if err != nil {
		return err
	}
	s.closers = append(s.closers, func() { _ = p.Stop(5 * time.Second) })
	return nil
}

// tenantUp creates the project as EMF's tenant controller does and waits until dm-manager has set it up, then
// writes the gateway's CA root for the fleet.
func (s *system) tenantUp(ctx context.Context, dsn, key string) error {
	s.tenant = uuid.NewString()
	tc, err := rig.Dial(rig.Config{Address: s.invAddr, Tenant: s.tenant},
		rig.Client{Name: "load tenant controller", Kind: inv_v1.ClientKind_CLIENT_KIND_TENANT_CONTROLLER})
	if err != nil {
		return err
	}
	// Kept registered until the end: closing an Inventory client races with its heartbeat (the client
	// library's log.Fatal).
	s.closers = append(s.closers, tc.Close)
	if _, err := tc.CreateTenant(ctx); err != nil {
		return err
	}
	st, err := store.Open(ctx, dsn, store.ConnectOptions{}, zerolog.Nop())
	if err != nil {
		return err
	}
	defer st.Close()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		t, err := st.GetTenant(ctx, s.tenant)
		if err == nil && t.CIRARootCertDERB64 != "" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("serverun: tenant %s not set up by dm-manager within 2 minutes (last: %v)", s.tenant, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	sec, err := secrets.Open(ctx, secrets.Options{Backend: secrets.BackendEmbedded, Key: key}, st, zerolog.Nop())
	if err != nil {
		return err
	}
	defer sec.Close()
	ca, err := ciragw.LoadOrCreateCA(ctx, devices.NewCAStore(sec))
	if err != nil {
		return err
	}
	s.caFile = filepath.Join(s.o.Dir, "ca.pem")
	return os.WriteFile(s.caFile, ca.RootPEM(), 0o600)
}

// fleetSeed is the GUID seed of fleet process i.
func (s *system) fleetSeed(i int) string { return fmt.Sprintf("%s-%d", s.tenant, i) }

// fleetSizes splits N over the fleet processes.
func (s *system) fleetSizes() []int {
	n := max(1, (s.o.N+s.o.FleetSize-1)/s.o.FleetSize)
	sizes := make([]int, n)
	for i := range sizes {
		sizes[i] = s.o.N / n
		if i < s.o.N%n {
			sizes[i]++
		}
	}
	return sizes
}

// importDevices registers every device the way users do: a CSV file given to `dm-manager devices import`.
func (s *system) importDevices(ctx context.Context, dsn, key string) error {
	path := filepath.Join(s.o.Dir, "devices.csv")
	var b strings.Builder
	b.WriteString("guid,tenant,cira_username,cira_password,amt_password\n")
	for i, n := range s.fleetSizes() {
		for j := range n {
			g := amtsim.SeededGUID(s.fleetSeed(i), j).String()
			c := creds.For(credSeed, g)
			s.guids = append(s.guids, g)
			fmt.Fprintf(&b, "%s,%s,%s,%s,%s\n", g, s.tenant, c.CIRAUser, c.CIRAPassword, c.AMTPassword)
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return err
	}
	t0 := time.Now()
	cmd := exec.CommandContext(ctx, s.bins["dm-manager"], "devices", "import", "-databaseURL="+dsn, path) //nolint:gosec // G204: the binary built above
	cmd.Env = append(os.Environ(), "DM_SECRETS_KEY="+key)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("serverun: dm-manager devices import: %w\n%s", err, out)
	}
	s.say("%d devices imported with `dm-manager devices import` in %.1fs: %s", len(s.guids), time.Since(t0).Seconds(),
		strings.TrimSpace(lastLine(string(out))))
	return nil
}

// startFleets starts the fleet processes (test/load/devices); each activates its devices in process, then dials.
func (s *system) startFleets() error {
	sizes := s.fleetSizes()
	for i, n := range sizes {
		args := []string{"-n", fmt.Sprint(n), "-guidSeed", s.fleetSeed(i), "-seed", credSeed, "-gateway", s.cira,
			"-name", ciraName, "-caFile", s.caFile, "-sources", fmt.Sprint(s.o.Sources),
			"-rampRate", fmt.Sprint(s.o.RampRate / float64(len(sizes))),
			"-maxDialing", fmt.Sprint(max(1, s.o.MaxDialing/len(sizes))), "-sourceNet", fmt.Sprintf("127.0.%d", i+1)}
		addr, err := procs.FreePort()
		if err != nil {
			return err
		}
		args = append(args, "-debug", addr)
		s.fleetDebug = append(s.fleetDebug, addr)
		p := &procs.Proc{Name: fmt.Sprintf("fleet-%d", i), Bin: s.bins["devices"], Args: append(args, s.o.FleetFlags...),
			// The fleet simulates thousands of AMTs in one heap, which real devices do not share; collectFleets
			// collects it before the REST phase, so that no collection of it falls into the latency, which should
			// measure dm-manager. GOGC=200 leaves twice its live heap for the phase.
			Env: []string{"GOGC=200"}, Log: filepath.Join(s.o.Dir, fmt.Sprintf("fleet-%d.log", i))}
		if err := p.Start(); err != nil {
			return err
		}
		s.closers = append(s.closers, func() { _ = p.Stop(30 * time.Second) })
		s.fleets = append(s.fleets, p)
	}
	return nil
}

// collectFleets runs a garbage collection in every fleet process (its /debug/pprof/heap?gc=1) and returns once
// they are done.
func (s *system) collectFleets(ctx context.Context) {
	var wg sync.WaitGroup
	for i, addr := range s.fleetDebug {
		wg.Go(func() {
			if err := fetchTo(ctx, "http://"+addr+"/debug/pprof/heap?gc=1", os.DevNull); err != nil {
				s.say("fleet-%d: collecting its garbage before the REST phase: %v", i, err)
			}
		})
	}
	wg.Wait()
}

// fleetFailed reports a fleet process that exited.
func (s *system) fleetFailed() error {
	for _, p := range s.fleets {
		if !p.Alive() {
			return fmt.Errorf("serverun: %s exited: %v\n%s", p.Name, p.Err(), p.Tail(10))
		}
	}
	for _, r := range s.replicas {
		if !r.proc.Alive() {
			return fmt.Errorf("serverun: %s exited: %v\n%s", r.id, r.proc.Err(), r.proc.Tail(10))
		}
	}
	return nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// userToken is an EIM user's bearer token with read access to tenant, signed with the key the replicas verify.
func userToken(tenant string) (string, error) {
	return authtest.SignHS256(authtest.Claims("default-roles-master", tenant+"_"+auth.RoleIMR))
}
