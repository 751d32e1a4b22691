// Package tenant is the tenant reconciler (architecture flow 1): for every Inventory tenant it keeps, idempotently,
// the tenant's CIRA configuration and its CCM and ACM activation profiles (and, under the static password policy,
// the tenant's AMT password); when a tenant is deleted it removes everything dm-manager holds for it. Only the
// leader replica (a Postgres advisory lock) acts, and its writes are fenced by its term: a replica deposed in the
// middle of a reconcile has its remaining writes refused (store.ErrDeposed) rather than undo the new leader's.
package tenant

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	tenantv1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/tenant/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/inventory"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/reconcilers/internal/queue"
)

// ID names a tenant (Inventory tenant_id, a UUID).
type ID string

func (id ID) String() string { return string(id) }

// Password policies (-passwordPolicy): one generated AMT password per tenant, or one per device at activation.
const (
	PolicyStatic  = "static"
	PolicyDynamic = "dynamic"
)

// TenantSource reads a tenant from Inventory; a missing one is an error matching inventory.ErrNotFound.
// *inventory.Client satisfies it.
type TenantSource interface {
	GetTenant(ctx context.Context, tenant string) (*tenantv1.Tenant, error)
}

// Store is the part of *store.Store the reconciler uses.
type Store interface {
	GetTenant(ctx context.Context, id string) (store.Tenant, error)
	UpsertTenant(ctx context.Context, t store.Tenant) (store.Tenant, error)
	ListTenants(ctx context.Context) ([]store.Tenant, error)
	DeleteTenant(ctx context.Context, id string) error
	GetProfile(ctx context.Context, tenantID, name string) (store.Profile, error)
	UpsertProfile(ctx context.Context, p store.Profile) (store.Profile, error)
	ListDevicesByTenant(ctx context.Context, tenantID string) ([]store.Device, error)
}

// Secrets is the part of secrets.Store the reconciler uses.
type Secrets interface {
	Get(ctx context.Context, path string) (map[string]string, error)
	CreateIfAbsent(ctx context.Context, path string, data map[string]string) (map[string]string, bool, error)
	DeletePrefix(ctx context.Context, prefix string) error
}

// RootCA gives the gateway's root certificate as base64 DER, the form AMT takes (*ciragw.CA satisfies it).
type RootCA interface {
	RootDERBase64() string
}

// Leader tells whether this replica is the one that reconciles tenants, and runs the leader's work fenced: fn
// gets the store bound to a transaction that commits only while this replica's term lasts, and no new term can
// start while fn runs (PgLeader). A deposed leader's Fenced fails with an error wrapping store.ErrDeposed.
type Leader interface {
	IsLeader(ctx context.Context) (bool, error)
	Fenced(ctx context.Context, fn func(Store) error) error
}

// The real implementations satisfy the interfaces directly.
var (
	_ TenantSource = (*inventory.Client)(nil)
	_ Store        = (*store.Store)(nil)
	_ Secrets      = secrets.Store(nil)
	_ Leader       = (*PgLeader)(nil)
)

// Config configures the tenant reconciler.
type Config struct {
	CIRAServerAddress string // host:port AMT dials (-ciraServerAddress), recorded in each tenant's CIRA config
	PasswordPolicy    string // PolicyStatic (default) or PolicyDynamic (-passwordPolicy)
	Parallelism       int    // default 1: tenants are few
	RequestTimeout    time.Duration
	ResyncPeriod      time.Duration // how often recorded tenants are checked against Inventory (1m)
	DrainRetry        time.Duration // how often a tenant being deleted is looked at while devices remain (30s)
	Log               zerolog.Logger
	Registerer        prometheus.Registerer // queue metrics (controller="tenant"); nil registers nothing
}

// Deps are the parts the reconciler drives. Password defaults to amt.RandomPassword (protocol-rps-activation §2.2:
// 16 characters with upper, lower, digit and special).
type Deps struct {
	Tenants  TenantSource
	Store    Store
	Secrets  Secrets
	CA       RootCA
	Leader   Leader
	Password func() (string, error)
}

// Reconciler is the tenant reconciler.
type Reconciler struct {
	cfg  Config
	deps Deps
	log  zerolog.Logger
	q    *queue.Queue[ID]
}

// New validates the configuration and starts the workers.
func New(cfg Config, deps Deps) (*Reconciler, error) {
	if cfg.PasswordPolicy == "" {
		cfg.PasswordPolicy = PolicyStatic
	}
	if cfg.PasswordPolicy != PolicyStatic && cfg.PasswordPolicy != PolicyDynamic {
		return nil, fmt.Errorf("tenant reconciler: -passwordPolicy %q: use %q or %q", cfg.PasswordPolicy, PolicyStatic, PolicyDynamic)
	}
	if cfg.CIRAServerAddress == "" {
		return nil, errors.New("tenant reconciler: -ciraServerAddress is required (the host:port AMT dials)")
	}
	if deps.Tenants == nil || deps.Store == nil || deps.Secrets == nil || deps.CA == nil || deps.Leader == nil {
		return nil, errors.New("tenant reconciler: Tenants, Store, Secrets, CA and Leader are required")
	}
	if deps.Password == nil {
		deps.Password = amt.RandomPassword
	}
	if cfg.ResyncPeriod <= 0 {
		cfg.ResyncPeriod = time.Minute
	}
	if cfg.DrainRetry <= 0 {
		cfg.DrainRetry = 30 * time.Second
	}
	r := &Reconciler{cfg: cfg, deps: deps, log: cfg.Log.With().Str("component", "tenant-reconciler").Logger()}
	r.q = queue.New(r.reconcile, queue.Options{Parallelism: cfg.Parallelism, Timeout: cfg.RequestTimeout,
		Name: "tenant", Log: r.log, Registerer: cfg.Registerer})
	return r, nil
}

// Enqueue asks for a reconcile of the tenant.
func (r *Reconciler) Enqueue(tenant string) {
	if tenant != "" {
		r.q.Enqueue(ID(tenant))
	}
}

// OnTenant is the inventory.Handlers.Tenant callback.
func (r *Reconciler) OnTenant(id inventory.TenantID, _ inventory.Cause) { r.Enqueue(id.Tenant) }

// Run reconciles every tenant dm-manager has recorded, at start and every ResyncPeriod until ctx ends, so tenants
// deleted from Inventory while no event reached us are cleaned up (Inventory's resync only lists existing ones).
func (r *Reconciler) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.ResyncPeriod)
	defer t.Stop()
	for {
		if ts, err := r.deps.Store.ListTenants(ctx); err != nil {
			r.log.Warn().Err(err).Msg("listing recorded tenants failed; retrying at the next resync")
		} else {
			for _, tn := range ts {
				r.Enqueue(tn.ID)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Stop stops the workers.
func (r *Reconciler) Stop() { r.q.Stop() }

func (r *Reconciler) reconcile(ctx context.Context, id ID) queue.Result {
	tenant := string(id)
	log := r.log.With().Str("tenant", tenant).Logger()
	leading, err := r.deps.Leader.IsLeader(ctx)
	if err != nil {
		log.Warn().Err(err).Msg("checking tenant leadership failed; retrying")
		return queue.Result{Err: err}
	}
	if !leading {
		return queue.Result{} // the leader reconciles tenants; the resync brings them here if leadership moves
	}
	t, gerr := r.deps.Tenants.GetTenant(ctx, tenant)
	if gerr != nil && !isNotFound(gerr) {
		log.Warn().Err(gerr).Msg("reading the tenant from Inventory failed; retrying")
		return queue.Result{Err: gerr}
	}
	var res queue.Result
	err = r.deps.Leader.Fenced(ctx, func(st Store) error {
		switch {
		case isNotFound(gerr):
			return r.cleanup(ctx, log, st, tenant)
		case t.GetDesiredState() == tenantv1.TenantState_TENANT_STATE_DELETED:
			var derr error
			res, derr = r.deleting(ctx, log, st, tenant)
			return derr
		}
		return r.ensure(ctx, log, st, tenant)
	})
	if errors.Is(err, store.ErrDeposed) {
		log.Info().Err(err).Msg("tenant leadership moved during the reconcile; the new leader reconciles the tenant")
		return queue.Result{}
	}
	if err != nil {
		return r.result(log, err, 0)
	}
	return res
}

func (r *Reconciler) result(log zerolog.Logger, err error, after time.Duration) queue.Result {
	if err != nil {
		log.Warn().Err(err).Msg("tenant reconcile failed; retrying")
		return queue.Result{Err: err}
	}
	return queue.Result{After: after}
}

// deleting: the tenant is being deleted (soft delete first, hosts next, the tenant last). Its activated devices
// are deactivated by the host reconciler as their hosts go, which needs their records and secrets, so the clean-up
// waits for them; the tenant's hard delete (NotFound) cleans up whatever is left.
func (r *Reconciler) deleting(ctx context.Context, log zerolog.Logger, st Store, tenant string) (queue.Result, error) {
	devs, err := st.ListDevicesByTenant(ctx, tenant)
	if err != nil {
		return queue.Result{}, fmt.Errorf("list devices: %w", err)
	}
	if n := countActivated(devs); n > 0 {
		log.Info().Int("activated_devices", n).Msg("tenant being deleted; waiting for its devices to be deactivated")
		return queue.Result{After: r.cfg.DrainRetry}, nil
	}
	return queue.Result{}, r.cleanup(ctx, log, st, tenant)
}

func countActivated(devs []store.Device) int {
	return len(slices.DeleteFunc(devs, func(d store.Device) bool {
		return d.ActivationState != store.StateActivated && d.ActivationState != store.StateDeactivating
	}))
}

func isNotFound(err error) bool {
	return err != nil && (errors.Is(err, inventory.ErrNotFound) || status.Code(err) == codes.NotFound)
}
