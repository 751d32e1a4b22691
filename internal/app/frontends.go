package app

import (
	"context"
	"fmt"
	"net/http"
	"time"

	dmmanager "github.com/dmrm/dm-manager"
	"github.com/dmrm/dm-manager/internal/api"
	"github.com/dmrm/dm-manager/internal/auth"
	"github.com/dmrm/dm-manager/internal/rps"
	"github.com/dmrm/dm-manager/internal/southbound"
)

// startAuth builds the token verifier (HS* with SHARED_SECRET_KEY, RS*/PS* from -oidcServerURL or
// OIDC_SERVER_URL) and compiles the RBAC policy (-rbacRules) that decides what a verified token may do. With -enableAuth=false there is none: the REST API then lets every caller in, the southbound
// server takes the tenant from the agent's metadata or unverified token, and activation ignores bearer tokens.
func (a *app) startAuth(ctx context.Context) error {
	if !a.cfg.EnableAuth {
		a.log.Warn().Msg("authentication is disabled (-enableAuth=false): tokens are not verified")
		return nil
	}
	ac := auth.ConfigFromEnv()
	if a.cfg.OIDCServerURL != "" {
		ac.OIDCServerURL = a.cfg.OIDCServerURL
	}
	policy, err := auth.LoadPolicy(ctx, a.cfg.RBACRules)
	if err != nil {
		return &ConfigError{Flag: "rbacRules", Msg: err.Error()}
	}
	ac.Policy = policy
	v, err := auth.NewVerifier(ac)
	if err != nil {
		return &ConfigError{Flag: "enableAuth", Msg: err.Error()}
	}
	a.verifier = v
	return nil
}

// startSouthbound serves the Platform Manageability Agent's gRPC service. Each activation result it writes asks
// the host reconciler to look at the host again, which repairs a report that raced with its "AMT connected".
func (a *app) startSouthbound(context.Context) error {
	sb, err := southbound.New(southbound.Config{
		Hosts:              a.inv,
		Domains:            storeDomains{a.store},
		Passwords:          activationPasswords{st: a.store, sec: a.secrets},
		Verifier:           a.verifier,
		OnActivationReport: a.hosts.Enqueue,
		Log:                a.log,
	})
	if err != nil {
		return err
	}
	a.serveGRPC("southbound gRPC server", a.lis.DMServer, sb.NewGRPCServer())
	return nil
}

// startActivation serves the activation websocket rpc-go connects to. Each finished session asks the host
// reconciler to look at the device again.
func (a *app) startActivation(context.Context) error {
	cfg := rps.Config{
		Store: a.store, Claims: a.store, ReplicaID: a.cfg.ReplicaID, Secrets: a.secrets, Hosts: rpsHosts{a.inv},
		Outcomes: activationOutcomes{hosts: a.hosts, clients: a.amtClients, ciraAuth: a.ciraAuth, log: a.log,
			events: newActivationEvents(a.events)},
		Metrics:          a.reg,
		Log:              a.log,
		AppVersion:       "dm-manager " + dmmanager.Version,
		TLSIssuer:        a.ca, // AMT's TLS certificate for profiles with a TLS mode
		StepTimeout:      a.cfg.RequestTimeout,
		PostSetupDelay:   a.opts.ActivationPostSetupDelay,
		TLSRolloverDelay: a.opts.ActivationTLSRolloverDelay,
		Now:              a.opts.Clock,
	}
	if a.verifier != nil {
		cfg.Tokens = agentTokens{a.verifier}
	}
	engine, err := rps.New(cfg)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: engine, ReadHeaderTimeout: 10 * time.Second}
	a.serveHTTP("activation websocket server", a.lis.Activation, srv, engine.Close)
	return nil
}

// startAPI serves the tenant-facing REST API.
func (a *app) startAPI(context.Context) error {
	opts := api.Options{
		Domains:        domainEvents{DomainStore: api.StoreDomains(a.store), sink: a.events},
		Profiles:       a.store,
		Events:         a.store,
		Secrets:        a.secrets,
		Devices:        a.store,
		AMT:            deviceAMT{a.amtClients},
		Journal:        a.store,
		Audit:          recoveryEvents{a.events},
		AuthDisabled:   a.verifier == nil,
		RequestTimeout: a.cfg.RequestTimeout,
		Now:            a.opts.Clock,
		Log:            a.log,
	}
	if a.verifier != nil {
		opts.Verifier = a.verifier
	}
	if a.cfg.TenantManagerURL != "" {
		opts.Projects = api.NewTenantManager(a.cfg.TenantManagerURL)
	}
	h, err := api.NewHandler(opts)
	if err != nil {
		return fmt.Errorf("REST API: %w", err)
	}
	a.serveHTTP("REST API server", a.lis.API, api.NewServer("", h, a.cfg.RequestTimeout), nil)
	return nil
}
