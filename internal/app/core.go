package app

import (
	"context"
	"crypto/elliptic"
	"crypto/tls"
	"fmt"
	"net"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/health"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/internal/auth"
	"github.com/dmrm/dm-manager/internal/devices"
	"github.com/dmrm/dm-manager/internal/events"
	"github.com/dmrm/dm-manager/internal/inventory"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/reconcilers/host"
	"github.com/dmrm/dm-manager/reconcilers/tenant"
)

// parts are the running components, filled in start order.
type parts struct {
	lis    Listeners
	health *health.Server
	reg    *prometheus.Registry

	store   *store.Store
	secrets secrets.Store

	ca           *ciragw.CA
	gatewayNames []string
	gateway      *ciragw.Gateway
	ciraAuth     *devices.Authenticator
	amtClients   *devices.AMTClients
	// gatewayEvents feeds the host reconciler; subscribed before the gateway serves so no connect is missed.
	gatewayEvents <-chan ciragw.Event

	inv      *inventory.Client
	hosts    *host.Reconciler
	tenants  *tenant.Reconciler
	verifier *auth.Verifier // nil with -enableAuth=false
	events   events.Sink    // audit trail, and MQTT with -mqttAddress (startEvents)
	replicaParts
}

// startStore connects to Postgres (bounded retries) and applies the migrations.
func (a *app) startStore(ctx context.Context) error {
	st, err := store.Open(ctx, a.cfg.DatabaseURL, store.ConnectOptions{
		Retries:        a.cfg.DatabaseConnectRetries,
		InitialBackoff: a.cfg.DatabaseConnectBackoff,
		MaxBackoff:     a.cfg.DatabaseConnectMaxBackoff,
	}, a.log)
	if err != nil {
		return fmt.Errorf("%w (-databaseURL, -databaseConnectRetries)", err)
	}
	a.store = st
	a.onStop("store", st.Close)
	return st.Migrate(ctx)
}

// startSecrets opens the secrets backend: sealed rows in our database, or Vault.
func (a *app) startSecrets(ctx context.Context) error {
	c := a.cfg
	sec, err := secrets.Open(ctx, secrets.Options{
		Backend: string(c.SecretsBackend), KeyFile: c.SecretsKeyFile, Key: c.SecretsKey,
		VaultAddress: c.VaultAddress, VaultAuth: string(c.VaultAuth), VaultRole: c.VaultRole,
		VaultKVMount: c.VaultKVMount, VaultPathPrefix: c.VaultPathPrefix, VaultK8sTokenPath: c.VaultK8sTokenPath,
		VaultToken: c.VaultToken, VaultRoleID: c.VaultRoleID, VaultSecretID: c.VaultSecretID,
	}, a.store, a.log)
	if err != nil {
		return fmt.Errorf("opening the %s secrets backend (-secretsBackend): %w", c.SecretsBackend, err)
	}
	a.secrets = sec
	a.onStop("secrets", sec.Close)
	return nil
}

// ciraCurves are the curves -ciraECDSACurves names (validated by config.Load).
var ciraCurves = map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384()}

// startGateway loads (or creates, once for all replicas) the gateway CA from the secrets, issues this process's
// server certificate for the advertised name, and serves CIRA. Stopping it sends DISCONNECT to every device.
func (a *app) startGateway(ctx context.Context) error {
	ca, err := ciragw.LoadOrCreateCA(ctx, devices.NewCAStore(a.secrets))
	if err != nil {
		return err
	}
	a.ca = ca
	a.gatewayNames = gatewayNames(a.cfg.CIRAServerAddress)
	cert, err := ca.ServerCertificate(a.gatewayNames...)
	if err != nil {
		return err
	}
	var ecCerts []tls.Certificate
	for _, name := range a.cfg.CIRAECDSACurveNames() {
		c, err := ca.ServerCertificateECDSA(ciraCurves[name], a.gatewayNames...)
		if err != nil {
			return err
		}
		ecCerts = append(ecCerts, c)
	}
	a.ciraAuth = devices.NewAuthenticator(a.store, a.secrets, devices.AuthOptions{}, a.log)
	gw, err := ciragw.New(ciragw.Config{
		Certificate:           cert,
		ECDSACertificates:     ecCerts,
		Authenticator:         a.ciraAuth,
		Presence:              devices.NewPresenceWriter(a.store, a.cfg.ReplicaID, a.cfg.ReplicaAddress, a.log),
		PresenceFlushInterval: presenceFlushInterval,
		Registerer:            a.reg,
		Logger:                a.log,
	})
	if err != nil {
		return err
	}
	a.gateway = gw
	a.amtClients = devices.NewAMTClients(a.store, a.secrets, gw, devices.ClientOptions{
		Replica: a.cfg.ReplicaID, RequestTimeout: a.cfg.AMTRequestTimeout, Forward: a.forwarder(),
		ObserveWSMan: gw.ObserveWSManLatency,
	}, a.log)
	a.onStop("AMT clients", a.amtClients.Close)

	// Subscribed before Serve: every session event from the first connection on reaches its consumer.
	clientEvents, unsubClients := gw.Subscribe()
	hostEvents, unsubHosts := gw.Subscribe()
	a.gatewayEvents = hostEvents
	a.emitSessions(gw.Subscribe())

	gwCtx, stopGateway := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := gw.Serve(gwCtx, a.lis.CIRA); err != nil {
			a.fail(errServe("CIRA gateway", a.cfg.CIRAAddress, err))
			return
		}
		if gwCtx.Err() == nil {
			a.fail(errServe("CIRA gateway", a.cfg.CIRAAddress, nil))
		}
	}()
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		a.amtClients.Watch(gwCtx, clientEvents)
	}()
	a.onStop("CIRA gateway", func() {
		stopGateway() // DISCONNECT to every device, wait for the sessions, write the last presence batch
		<-served
		unsubClients()
		unsubHosts()
		<-watched
	})
	return nil
}

// gatewayNames are the names on the gateway's server certificate: the host AMT is told to dial first (AMT
// matches it against the certificate, protocol-cira-wsman §1.2), then loopback names for tests and port-forwards.
func gatewayNames(ciraServerAddress string) []string {
	h, _, err := net.SplitHostPort(ciraServerAddress)
	if err != nil || h == "" {
		h = ciraServerAddress
	}
	names := []string{h}
	for _, n := range []string{"localhost", "127.0.0.1"} {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}
