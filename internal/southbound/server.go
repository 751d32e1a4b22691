// Package southbound serves the Platform Manageability Agent (PMA) on edge nodes: the gRPC service
// device_management.DeviceManagement, wire-compatible with EMF's (emf-conventions §6). The agent reports whether
// the machine has AMT, asks every heartbeat whether to activate it, and reports how activation went.
//
// The tenant of every call is the project in the agent's token (role "<project>_en-agent-rw"); a host is looked
// up only inside that tenant, so an agent of project A asking about a host of project B gets NotFound, exactly as
// for a host that does not exist: nothing tells it that the UUID is in use elsewhere.
package southbound

import (
	"context"
	"errors"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"
	statusv1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/status/v1"

	"github.com/dmrm/dm-manager/internal/auth"
	"github.com/dmrm/dm-manager/internal/southbound/pb"
)

// Hosts is the Inventory access the server needs; internal/inventory.Client implements it. Errors for a missing
// host must carry gRPC code NotFound.
type Hosts interface {
	GetHostByUUID(ctx context.Context, tenant, uuid string) (*computev1.HostResource, error)
	SetAmtSku(ctx context.Context, tenant, resourceID string, sku computev1.AmtSku) error
	UpdateAMTStatusText(ctx context.Context, tenant, resourceID, text string, ind statusv1.StatusIndication) error
}

// Domains says whether a tenant has uploaded a domain provisioning certificate, which makes ACM the default.
type Domains interface {
	HasDomain(ctx context.Context, tenant string) (bool, error)
}

// Passwords returns the AMT admin password the agent hands to rpc-go: the tenant's under the static policy, the
// device's own under the dynamic one.
type Passwords interface {
	ActivationPassword(ctx context.Context, tenant, guid string) (string, error)
}

// Config wires the server.
type Config struct {
	Hosts     Hosts
	Domains   Domains
	Passwords Passwords
	// Verifier authenticates agents' tokens. Nil means -enableAuth=false: the tenant is then taken from the
	// "activeprojectid" metadata or, as EMF does, from the token's roles without checking the signature.
	Verifier *auth.Verifier
	// OnActivationReport, when set, is called after an activation result was written to a host's AMT status, so
	// the host reconciler re-reads the host at once: it does not see its own client's writes as events, and its
	// "AMT connected" may have been overwritten by a report that raced with it. It must not block.
	OnActivationReport func(tenant, hostUUID string)
	// Limits bound each agent connection (keepalive enforcement, idle close, calls in flight).
	Limits Limits
	Log    zerolog.Logger
}

// Server implements pb.DeviceManagementServer.
type Server struct {
	pb.UnimplementedDeviceManagementServer
	hosts     Hosts
	domains   Domains
	passwords Passwords
	verifier  *auth.Verifier
	onReport  func(tenant, hostUUID string)
	limits    Limits
	log       zerolog.Logger
}

// New checks the wiring and returns the server.
func New(cfg Config) (*Server, error) {
	if cfg.Hosts == nil || cfg.Domains == nil || cfg.Passwords == nil {
		return nil, errors.New("southbound: Hosts, Domains and Passwords are all required")
	}
	return &Server{
		hosts: cfg.Hosts, domains: cfg.Domains, passwords: cfg.Passwords, verifier: cfg.Verifier,
		onReport: cfg.OnActivationReport, limits: cfg.Limits.withDefaults(),
		log: cfg.Log.With().Str("component", "southbound").Logger(),
	}, nil
}

// NewGRPCServer returns a gRPC server with the service registered, the connection Limits applied, a panic in
// any call costing that call only and, when auth is on, every call authenticated before it reaches a handler.
// TLS is terminated in front of it (Traefik, h2c backend) in EMF; pass grpc.Creds in opts to serve TLS directly.
func (s *Server) NewGRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	opts = append(s.limits.serverOptions(), opts...)
	opts = append(opts, grpc.ChainUnaryInterceptor(RecoverUnary(s.log)), grpc.ChainStreamInterceptor(RecoverStream(s.log)))
	if s.verifier != nil {
		opts = append(opts, grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor(s.verifier)))
	}
	g := grpc.NewServer(opts...)
	pb.RegisterDeviceManagementServer(g, s)
	return g
}
