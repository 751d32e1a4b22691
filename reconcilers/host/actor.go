package host

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dmrm/dm-manager/internal/store"
)

// Who reconciles a host when several replicas share one database (issue 10 item 4):
//
//   - a device connected to a replica is the business of that replica, the owner: only it can reach AMT, and it
//     hears the session's events first;
//   - a device connected nowhere (disconnected, never connected, no record yet, its host being deleted, or a
//     "connected" record whose replica stopped refreshing it) is the business of exactly one replica, the
//     leader: the replica holding the tenant leadership's advisory lock, which already exists, moves by itself
//     when its holder dies and costs no extra write per host (a per-host lease would write on every reconcile);
//   - every other replica acknowledges the request without acting, so Inventory hears from one replica only.
//
// The leader does not see another replica's session events; it looks at every host at Inventory's periodic resync
// (-reconcilePeriod), so a device last held by another replica is reported DISCONNECTED up to one resync period
// after its grace period, where its own owner would have reported it at the end of the grace period.

// Leader tells whether this replica is the one that handles hosts connected nowhere (tenant.PgLeader).
type Leader interface {
	IsLeader(ctx context.Context) (bool, error)
}

// actorFacts are what decide who acts: this replica, the leadership, the store's record and the local session.
type actorFacts struct {
	Self       string        // -replicaID
	Leading    bool          // this replica leads
	Dev        *store.Device // the tenant's device record; nil if none
	Local      bool          // this replica holds a CIRA session of the device
	SessionAt  time.Time     // when the local session started
	Now        time.Time     // for the freshness of another replica's record
	StaleAfter time.Duration // Params.OwnerStaleAfter
}

// whoActs says whether this replica acts for the host, and why (for logs).
func whoActs(f actorFacts) (act bool, why string) {
	d := f.Dev
	ownerElsewhere := d != nil && d.ConnectionState == store.ConnectionConnected && d.OwnerReplica != "" &&
		d.OwnerReplica != f.Self && f.Now.Sub(later(d.LastSeenAt, d.ConnectedAt)) <= f.StaleAfter
	switch {
	case f.Local && ownerElsewhere && d.ConnectedAt.After(f.SessionAt):
		// The device reconnected to another replica after our session began: ours is the old copy, being closed.
		return false, "the device's newer session is on replica " + d.OwnerReplica
	case f.Local:
		return true, "this replica holds the device's session"
	case ownerElsewhere:
		return false, "replica " + d.OwnerReplica + " holds the device's session"
	case f.Leading:
		return true, "the device is connected nowhere and this replica leads"
	}
	return false, "the device is connected nowhere; the leader replica handles it"
}

// acts reads what whoActs needs. Without a Leader (a single replica) this replica leads.
//
// It also returns the device record it read (nil when there is none), which gather uses: one read per reconcile
// instead of two (the ramp of a large fleet reconciles every device as it connects).
func (r *Reconciler) acts(ctx context.Context, tenant, guid string) (bool, string, *store.Device, error) {
	f := actorFacts{Self: r.cfg.ReplicaID, Leading: true, Now: r.cfg.Clock(), StaleAfter: r.cfg.OwnerStaleAfter}
	var dev *store.Device
	switch d, err := r.deps.Devices.GetDevice(ctx, guid); {
	case err == nil:
		dev = &d
		if d.TenantID == tenant {
			f.Dev = dev
		}
	case !errors.Is(err, store.ErrNotFound):
		return false, "", nil, fmt.Errorf("read device record: %w", err)
	}
	f.SessionAt, f.Local = r.deps.Presence.Connected(guid)
	if !f.Local && r.deps.Leader != nil && !ownedElsewhere(f) {
		leading, err := r.deps.Leader.IsLeader(ctx)
		if err != nil {
			return false, "", nil, fmt.Errorf("check leadership: %w", err)
		}
		f.Leading = leading
	}
	act, why := whoActs(f)
	return act, why, dev, nil
}

// ownedElsewhere spares the leadership check when another replica's fresh session decides anyway.
func ownedElsewhere(f actorFacts) bool {
	act, _ := whoActs(actorFacts{Self: f.Self, Dev: f.Dev, Now: f.Now, StaleAfter: f.StaleAfter, Leading: true})
	return !act
}
