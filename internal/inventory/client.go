// Package inventory is dm-manager's only door to EIM Inventory: one RESOURCE_MANAGER client subscribed to HOST and
// TENANT, an event pump that turns Inventory events and a periodic full resync into reconcile requests, typed
// reads, and the status-triplet writer that sends only the fields an RM may write (emf-conventions §1).
package inventory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	inv_v1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/inventory/v1"
	"github.com/open-edge-platform/infra-core/inventory/v2/pkg/client"

	"github.com/dmrm/dm-manager/internal/inventory/heartbeat"
)

const (
	// DefaultName is how dm-manager registers with Inventory.
	DefaultName = "dm-manager"
	// DefaultEventsBuffer holds a burst of events while the pump hands earlier ones to the reconcilers. Inventory's
	// client drops events when the buffer is full (the periodic resync repairs that), and EMF's buffer of 10 drops
	// them under any bulk host import; 1024 pointers cost nothing.
	DefaultEventsBuffer = 1024
	// DefaultResyncPeriod matches EMF -reconcilePeriod.
	DefaultResyncPeriod = time.Minute
	// DefaultWriteRetryTime bounds how long a status write retries transient Inventory errors.
	DefaultWriteRetryTime = 10 * time.Second
)

// ErrStreamClosed is returned by Run when Inventory closes the event stream; the process must exit and restart to
// re-register (EMF convention).
var ErrStreamClosed = errors.New("inventory: event stream closed by Inventory; restart dm-manager to re-register")

// ErrNotFound wraps every read of a host or tenant that does not exist. It carries gRPC code NotFound, so callers
// that must not import this package (the southbound server) can test status.Code(err) == codes.NotFound.
var ErrNotFound = status.Error(codes.NotFound, "inventory: not found")

// Config configures the Inventory client.
type Config struct {
	Address string // e.g. inventory.orch-infra.svc:50051, or "bufconn" with DialOptions carrying the dialer
	Name    string // registration name (default DefaultName)
	// Insecure disables TLS; otherwise CACertPath, TLSCertPath and TLSKeyPath are all required.
	Insecure                            bool
	CACertPath, TLSCertPath, TLSKeyPath string
	DialOptions                         []grpc.DialOption
	EventsBuffer                        int           // default DefaultEventsBuffer
	ResyncPeriod                        time.Duration // default DefaultResyncPeriod
	WriteRetryTime                      time.Duration // default DefaultWriteRetryTime
	EnableTracing, EnableMetrics        bool
	Log                                 zerolog.Logger
}

// Client is the wrapper. Create it with New, start the pump with Run, stop with Close.
type Client struct {
	inv    client.TenantAwareInventoryClient
	events chan *client.WatchEvents
	cfg    Config
	log    zerolog.Logger

	wg      sync.WaitGroup
	cancel  context.CancelFunc
	closing atomic.Bool

	writes, skipped atomic.Int64
}

// New connects to Inventory and registers as a RESOURCE_MANAGER watching HOST and TENANT.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Address == "" {
		return nil, errors.New("inventory: no address (-inventoryAddress)")
	}
	if !cfg.Insecure && (cfg.CACertPath == "" || cfg.TLSCertPath == "" || cfg.TLSKeyPath == "") {
		// Inventory's client would log.Fatal on this; fail with a message that names the flags instead.
		return nil, errors.New("inventory: TLS needs -caCertPath, -tlsCertPath and -tlsKeyPath (or -insecureGRPC=true)")
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.EventsBuffer <= 0 {
		cfg.EventsBuffer = DefaultEventsBuffer
	}
	if cfg.ResyncPeriod <= 0 {
		cfg.ResyncPeriod = DefaultResyncPeriod
	}
	if cfg.WriteRetryTime <= 0 {
		cfg.WriteRetryTime = DefaultWriteRetryTime
	}
	if err := heartbeat.Check(); err != nil {
		return nil, err
	}
	c := &Client{events: make(chan *client.WatchEvents, cfg.EventsBuffer), cfg: cfg,
		log: cfg.Log.With().Str("component", "inventory").Logger()}
	// The client's stream lives as long as this context; Close cancels it.
	streamCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel
	inv, err := client.NewTenantAwareInventoryClient(streamCtx, client.InventoryClientConfig{
		Name:          cfg.Name,
		Address:       cfg.Address,
		DialOptions:   cfg.DialOptions,
		Events:        c.events,
		ClientKind:    inv_v1.ClientKind_CLIENT_KIND_RESOURCE_MANAGER,
		ResourceKinds: []inv_v1.ResourceKind{inv_v1.ResourceKind_RESOURCE_KIND_HOST, inv_v1.ResourceKind_RESOURCE_KIND_TENANT},
		// No silent re-registration (events would be lost unseen) and no log.Fatal inside a library call either:
		// after the stream ends, calls fail with Unavailable and Run returns ErrStreamClosed, so main decides how
		// to exit. (EMF sets AbortOnUnknownClientError; the effect, a restart, is the same.)
		EnableRegisterRetry:       false,
		AbortOnUnknownClientError: false,
		EnableTracing:             cfg.EnableTracing,
		EnableMetrics:             cfg.EnableMetrics,
		Wg:                        &c.wg,
		SecurityCfg: &client.SecurityConfig{
			Insecure: cfg.Insecure,
			CaPath:   cfg.CACertPath,
			CertPath: cfg.TLSCertPath,
			KeyPath:  cfg.TLSKeyPath,
		},
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("inventory: register with %s: %w", cfg.Address, err)
	}
	c.inv = inv
	c.log.Info().Str("address", cfg.Address).Str("name", cfg.Name).Msg("registered with Inventory")
	return c, nil
}

// Close unregisters from Inventory and waits for the client's goroutines. Run then returns nil.
func (c *Client) Close() {
	c.closing.Store(true)
	c.cancel()
	c.wg.Wait()
}

// WriteStats counts Update calls sent and status writes skipped because Inventory already held the values.
type WriteStats struct {
	Writes  int64
	Skipped int64
}

// Stats returns the write counters since New.
func (c *Client) Stats() WriteStats {
	return WriteStats{Writes: c.writes.Load(), Skipped: c.skipped.Load()}
}
