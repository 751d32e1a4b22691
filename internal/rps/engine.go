package rps

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
)

// Store is the part of internal/store the engine uses; *store.Store implements it.
type Store interface {
	GetTenant(ctx context.Context, id string) (store.Tenant, error)
	GetProfile(ctx context.Context, tenantID, name string) (store.Profile, error)
	GetDomainBySuffix(ctx context.Context, tenantID, suffix string) (store.Domain, error)
	GetDevice(ctx context.Context, guid string) (store.Device, error)
	UpsertDevice(ctx context.Context, d store.Device) (store.Device, error)
	DeleteDevice(ctx context.Context, guid string) error
	MergeDeviceFacts(ctx context.Context, guid string, facts map[string]string) error
}

// AMTState mirrors Inventory's AmtState; values are the enum names, so an adapter passes `.String()`.
type AMTState string

const (
	AMTStateUnspecified   AMTState = "AMT_STATE_UNSPECIFIED"
	AMTStateProvisioned   AMTState = "AMT_STATE_PROVISIONED"
	AMTStateUnprovisioned AMTState = "AMT_STATE_UNPROVISIONED"
	AMTStateDisconnected  AMTState = "AMT_STATE_DISCONNECTED"
)

// Host is what the engine needs to know about the Inventory host whose UUID is the device GUID.
type Host struct {
	ResourceID     string
	DesiredAMT     AMTState
	CurrentAMT     AMTState
	AmtControlMode string // Inventory enum name, e.g. AMT_CONTROL_MODE_ACM; informational
	AmtDNSSuffix   string // the suffix the user gave for ACM; empty when not set
}

// ErrHostNotFound is returned by HostLookup when the tenant has no host with that UUID.
var ErrHostNotFound = errors.New("host not found in Inventory")

// HostLookup reads a host of a tenant by UUID from Inventory.
type HostLookup interface {
	Get(ctx context.Context, tenant, uuid string) (Host, error)
}

// TokenTenant validates a bearer token sent on the websocket upgrade and returns the tenant it grants.
type TokenTenant interface {
	TenantFromToken(ctx context.Context, token string) (string, error)
}

// Outcome reports how one session ended, for the host reconciler.
type Outcome struct {
	Tenant  string
	GUID    string
	Op      string // OpActivate, OpDeactivate, OpMaintenance
	Mode    string // "ccm" or "acm": the control mode the device is in afterwards ("" unknown or none)
	OK      bool
	Message string // the status text rpc-go received
	At      time.Time
	// Known: the device was found in the tenant (host in Inventory, device record) or reached. An unknown
	// device's failure changes nothing dm-manager manages, so nothing needs to look at its host again.
	Known bool
}

// Outcomes receives every outcome whose tenant and device GUID are named (after Starts.Started, if implemented). Notify must not block for long: it runs on
// the session goroutine after rpc-go got its terminal message.
type Outcomes interface {
	Notify(Outcome)
}

// Starts is optionally implemented by Outcomes: Started hears of an operation once its tenant is known, before
// anything is changed on the device (Outcome's Mode, OK and Message are then empty).
type Starts interface {
	Started(Outcome)
}

// Config configures an Engine. Store, Secrets, Hosts and Claims are required.
type Config struct {
	Store    Store
	Claims   Claims // one session per device in the whole cluster (claim.go)
	Secrets  secrets.Store
	Hosts    HostLookup
	Tokens   TokenTenant // nil: bearer tokens on the upgrade are ignored
	Outcomes Outcomes    // nil: outcomes are only logged and counted
	Metrics  prometheus.Registerer
	Log      zerolog.Logger

	AppVersion string // sent as appVersion; default "dm-manager"
	// TLSIssuer signs AMT's TLS certificate for profiles with a TLS mode (§2.10); nil: activating a TLS-enforcing
	// device with such a profile fails with a clear error.
	TLSIssuer TLSIssuer

	SessionTimeout      time.Duration // whole operation; default 5m
	StepTimeout         time.Duration // one step (usually one WS-Man exchange with its 401 retry); default 30s
	FirstMessageTimeout time.Duration // command after the upgrade; default 30s
	// PostSetupDelay is waited after Setup/AdminSetup before using the new admin credentials, as RPS's
	// DELAYED_TRANSITION (§2.3 step 5). Default 12s; negative disables (the simulator needs none).
	PostSetupDelay time.Duration
	PingInterval   time.Duration // websocket pings keeping ingress idle timers alive; default 20s, negative off
	// HeartbeatInterval spaces the `heartbeat_request` messages sent during every wait longer than it (§1.8);
	// default 5s, negative off.
	HeartbeatInterval time.Duration
	// TLSRolloverDelay is how long AMT 19+ needs after Setup/CommitChanges before its TLS port answers again; it
	// is the `port_switch` delay (RPS's delay_tls_timer, §2.11). Default 15s; negative: no wait.
	TLSRolloverDelay time.Duration
	// PortSwitchTimeout is how long rpc-go may take beyond the delay to send `port_switch_ack`; default 60s.
	PortSwitchTimeout time.Duration
	// TLSSettingsDelay is waited between the remote and the local AMT_TLSSettingData Put of the TLS configuration
	// (RPS's delay_tls_put_data_sync, §2.10 step 9); default 5s, negative: no wait.
	TLSSettingsDelay time.Duration
	// TLSRetryDelay is waited before another TLS handshake when AMT reset one; default 5s.
	TLSRetryDelay time.Duration
	// CIRADetectionDomain is written to AMT's environment detection so AMT never thinks it is inside the
	// enterprise network and always opens CIRA (§2.9 step 13); default "<random uuid>.com" per device.
	CIRADetectionDomain string
	Now                 func() time.Time
	// MaxWaitingFirst and MaxWaitingFirstPerIP cap the websockets that have not sent their first message yet, in
	// all and per source address; more are answered 503 before the upgrade (defaults DefaultMaxWaitingFirst,
	// DefaultMaxWaitingFirstPerIP). Each waits at most FirstMessageTimeout.
	MaxWaitingFirst      int
	MaxWaitingFirstPerIP int

	ReplicaID string        // names this replica in device claims (-replicaID); default "local"
	ClaimTTL  time.Duration // device claim lease, renewed every third of it; default 30s
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.SessionTimeout, 5*time.Minute)
	def(&c.StepTimeout, 30*time.Second)
	def(&c.FirstMessageTimeout, 30*time.Second)
	def(&c.PostSetupDelay, 12*time.Second)
	def(&c.PingInterval, 20*time.Second)
	def(&c.HeartbeatInterval, 5*time.Second)
	def(&c.TLSRolloverDelay, 15*time.Second)
	def(&c.PortSwitchTimeout, 60*time.Second)
	def(&c.TLSRetryDelay, 5*time.Second)
	def(&c.TLSSettingsDelay, 5*time.Second)
	def(&c.ClaimTTL, defaultClaimTTL)
	if c.ReplicaID == "" {
		c.ReplicaID = "local"
	}
	if c.AppVersion == "" {
		c.AppVersion = "dm-manager"
	}
	if c.MaxWaitingFirst <= 0 {
		c.MaxWaitingFirst = DefaultMaxWaitingFirst
	}
	if c.MaxWaitingFirstPerIP <= 0 {
		c.MaxWaitingFirstPerIP = DefaultMaxWaitingFirstPerIP
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Engine serves the activation websocket. It is an http.Handler for any path (§1.1).
type Engine struct {
	cfg      Config
	log      zerolog.Logger
	m        *metrics
	upgrader websocket.Upgrader
	waiting  *waitingRoom
	// refusedLog logs refused sessions at info, at most refusalLogBurst a minute.
	refusedLog zerolog.Logger

	base   context.Context
	cancel context.CancelCauseFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// New checks cfg and returns an Engine.
func New(cfg Config) (*Engine, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("rps: Config.Store is required")
	case cfg.Secrets == nil:
		return nil, errors.New("rps: Config.Secrets is required")
	case cfg.Hosts == nil:
		return nil, errors.New("rps: Config.Hosts is required")
	case cfg.Claims == nil:
		return nil, errors.New("rps: Config.Claims is required")
	}
	cfg.defaults()
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	base, cancel := context.WithCancelCause(context.Background())
	log := cfg.Log.With().Str("component", "rps").Logger()
	return &Engine{
		cfg: cfg, log: log, m: m, refusedLog: newRefusedLog(log),
		waiting: newWaitingRoom(cfg.MaxWaitingFirst, cfg.MaxWaitingFirstPerIP),
		// rpc-go sends no Origin and no subprotocol (§1.1); the socket carries no ambient credentials.
		upgrader: websocket.Upgrader{
			ReadBufferSize: 4096, WriteBufferSize: 4096, HandshakeTimeout: 10 * time.Second,
			CheckOrigin: func(*http.Request) bool { return true },
		},
		base: base, cancel: cancel,
	}, nil
}

// ServeHTTP upgrades to a websocket and runs one rpc-go session on it.
func (e *Engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		http.Error(w, "dm-manager is shutting down", http.StatusServiceUnavailable)
		return
	}
	e.wg.Add(1)
	e.mu.Unlock()
	defer e.wg.Done()

	leave, ok := e.admit(w, r)
	if !ok {
		return
	}
	defer leave()
	ws, err := e.upgrader.Upgrade(w, r, nil)
	if err != nil {
		e.log.Debug().Err(err).Str("remote", r.RemoteAddr).Msg("websocket upgrade failed")
		return // the upgrader has answered with an HTTP error
	}
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token == r.Header.Get("Authorization") {
		token = ""
	}
	s := newSession(e, ws, r.RemoteAddr)
	s.firstArrived = leave
	s.run(strings.TrimSpace(token))
}

// Close stops accepting sessions, ends the running ones with an `error` telling rpc-go to run again, and waits
// for them.
func (e *Engine) Close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.cancel(errShuttingDown)
	e.wg.Wait()
}
