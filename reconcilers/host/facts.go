package host

import (
	"time"

	"github.com/dmrm/dm-manager/internal/store"
)

// presenceView is what the reconciler knows of a device's CIRA session beyond the store record.
type presenceView struct {
	Local          bool      // this replica holds the session
	SessionAt      time.Time // when the local session started
	LastDisconnect time.Time // last disconnect this process saw (zero: none)
	Synced         bool      // the power state was read during the local session
}

// deviceFacts combines the store record and presence into what Decide needs.
//
// Since (for a device without a local session) is the best known start of its absence: the disconnect this
// process saw, else the one the store recorded, else (the store still says connected, or never connected) the
// later of this process's start and the record's last sign of life. A session another replica recorded counts only
// while that replica keeps refreshing last-seen; a replica that died leaves a stale "connected" behind.
func deviceFacts(dev *store.Device, tenant string, pv presenceView, started, now time.Time, p Params) DeviceFacts {
	if dev == nil || dev.TenantID != tenant {
		return DeviceFacts{Connected: pv.Local, Since: pv.SessionAt}
	}
	f := DeviceFacts{
		Known:       true,
		Linked:      dev.HostResourceID != "",
		Provisioned: dev.ActivationState == store.StateActivated || dev.ActivationState == store.StateDeactivating,
	}
	if pv.Local {
		f.Connected, f.Since, f.PowerSynced = true, pv.SessionAt, pv.Synced
		return f
	}
	lastSign := later(dev.LastSeenAt, dev.ConnectedAt)
	switch {
	// First: a session this process lost may live on at another replica (the device reconnected there, the old
	// session here was closed on takeover); the owner's fresh record wins over the disconnect seen here.
	case dev.ConnectionState == store.ConnectionConnected && dev.OwnerReplica != "" &&
		dev.OwnerReplica != p.ReplicaID && now.Sub(lastSign) <= p.OwnerStaleAfter:
		f.Elsewhere, f.Since = true, dev.ConnectedAt
	case !pv.LastDisconnect.IsZero():
		f.Since = pv.LastDisconnect
	case dev.ConnectionState == store.ConnectionDisconnected && !dev.DisconnectedAt.IsZero():
		f.Since = dev.DisconnectedAt
	case dev.ConnectionState == store.ConnectionNever:
		f.NeverConnected, f.Since = true, later(started, dev.UpdatedAt)
	default:
		f.Since = later(started, lastSign)
	}
	return f
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
