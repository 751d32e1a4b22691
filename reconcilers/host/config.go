package host

import (
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Params are the timings and names the decision uses. Zero values take the defaults below.
type Params struct {
	// CIRAServerAddress is the host:port AMT dials (-ciraServerAddress), named in texts telling a person what the
	// device must reach.
	CIRAServerAddress string
	// SoftOffTimeout bounds an ORDERED soft power off before the hard one (-softPowerTimeout, 30s). Sleep and
	// hibernate requests get the same time to show in AMT's power state.
	SoftOffTimeout time.Duration
	// ResetTimeout is how long an accepted ORDERED soft reset is watched before it is reported done, or followed
	// by a power-on when it left the host off (default SoftOffTimeout).
	ResetTimeout time.Duration
	// StateCheckInterval spaces the power-state reads while a soft action is pending (5s).
	StateCheckInterval time.Duration
	// ActionSettle is how long AMT may take to carry out a power change; AMT's guide says not to request another
	// one before the first completed, up to about 10s (10s).
	ActionSettle time.Duration
	// DisconnectGrace is how long a provisioned device may be without its CIRA session before it is reported
	// DISCONNECTED (-statusChangeGracePeriod, 1m).
	DisconnectGrace time.Duration
	// ForgetAfter bounds the wait for a deleted host's device to connect so it can be deactivated; after it the
	// device is forgotten without deactivation (10m).
	ForgetAfter time.Duration
	// OwnerStaleAfter: a session another replica recorded is trusted only if the device was seen within this
	// (3m: the gateway refreshes last-seen every minute).
	OwnerStaleAfter time.Duration
	// ReplicaID names this replica as the gateway records session owners (-replicaID).
	ReplicaID string
	// LevelRetries bounds the retries of a desired state (ON, OFF, SLEEP, HIBERNATE) not reached after an
	// uncertain outcome: a lost answer, a restart, a timeout (5). Resets and power cycles are never retried.
	LevelRetries int
	// RetryBackoff is the wait before the first retry of a level; it doubles for each further one, up to
	// maxRetryBackoff (10s: 10s, 20s, 40s, 80s, 2m40s for the default 5 retries, ~5m in all).
	RetryBackoff time.Duration
}

func (p Params) withDefaults() Params {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&p.SoftOffTimeout, 30*time.Second)
	def(&p.ResetTimeout, p.SoftOffTimeout)
	def(&p.StateCheckInterval, 5*time.Second)
	def(&p.ActionSettle, 10*time.Second)
	def(&p.DisconnectGrace, time.Minute)
	def(&p.ForgetAfter, 10*time.Minute)
	def(&p.OwnerStaleAfter, 3*time.Minute)
	def(&p.RetryBackoff, 10*time.Second)
	if p.LevelRetries <= 0 {
		p.LevelRetries = 5
	}
	return p
}

// Config configures the host reconciler.
type Config struct {
	Params
	Parallelism    int           // workers (-parallelism, 10)
	RequestTimeout time.Duration // per reconcile (-requestTimeout, 30s)
	ResyncPeriod   time.Duration // how often due journal entries are swept (-reconcilePeriod, 1m)
	Log            zerolog.Logger
	Clock          func() time.Time      // default time.Now
	Registerer     prometheus.Registerer // queue metrics (controller="host"); nil registers nothing
}

func (c Config) withDefaults() Config {
	c.Params = c.Params.withDefaults()
	if c.Parallelism <= 0 {
		c.Parallelism = 10
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.ResyncPeriod <= 0 {
		c.ResyncPeriod = time.Minute
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return c
}

// Deps are the parts the reconciler drives; all but Leader are required. Leader nil means a single replica: it
// handles every host (actor.go).
type Deps struct {
	Hosts    HostSource
	Status   StatusWriter
	Devices  Devices
	Journal  Journal
	Power    PowerControl
	Presence Presence
	Secrets  Secrets
	Leader   Leader
}

func (d Deps) validate() error {
	var missing []string
	for name, v := range map[string]any{"Hosts": d.Hosts, "Status": d.Status, "Devices": d.Devices,
		"Journal": d.Journal, "Power": d.Power, "Presence": d.Presence, "Secrets": d.Secrets} {
		if v == nil {
			missing = append(missing, name)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		return fmt.Errorf("host reconciler: missing dependencies %v", missing)
	}
	return nil
}
