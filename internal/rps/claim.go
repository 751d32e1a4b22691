package rps

import (
	"context"
	"errors"
	"time"

	"github.com/dmrm/dm-manager/internal/store"
)

// Claims is the cluster-wide "one session per device" lease (store activation_claims; *store.Store implements
// it). AMT and the stored secrets would be changed by two sessions at once (RPS lets them race, §4.4), and the
// two may run on different replicas, so the claim lives in Postgres: a lease renewed while the session lives,
// released at its end, and taken over once expired when its holder crashed.
type Claims interface {
	ClaimActivation(ctx context.Context, guid, holder, replica string, ttl time.Duration) error
	RenewActivation(ctx context.Context, guid, holder string, ttl time.Duration) error
	ReleaseActivation(ctx context.Context, guid, holder string) error
}

var _ Claims = (*store.Store)(nil)

// defaultClaimTTL bounds how long a crashed replica's claim blocks the device; it is renewed every third of it.
const defaultClaimTTL = 30 * time.Second

// errClaimLost is the session's cause when its lease could not be kept: another session may now hold the device.
var errClaimLost = errors.New("this session's claim on the device could not be renewed (database unreachable, or " +
	"the lease expired and another session took the device); run the operation again")

// claim takes the device for session s until the returned release is called; a device claimed by a live session
// anywhere in the cluster is refused with a terminal message naming the replica. While held, the lease is renewed;
// if renewing fails until the lease has run out, the session is stopped (errClaimLost) rather than go on
// unprotected.
func (e *Engine) claim(ctx context.Context, s *session, guid string) (release func(), err error) {
	replica := e.cfg.ReplicaID
	holder := replica + "/" + s.clientID
	err = e.cfg.Claims.ClaimActivation(ctx, guid, holder, replica, e.cfg.ClaimTTL)
	var held *store.ClaimedError
	switch {
	case errors.As(err, &held):
		return nil, refuse("Another session for device %s is in progress (on replica %s); run the operation again "+
			"after it has ended", guid, held.Replica)
	case err != nil:
		return nil, refuse("Device %s: claiming the device for this session failed (%s); run the operation again",
			guid, explain(causeOf(ctx, err)))
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go e.keepClaim(guid, holder, s, stop, done) //nolint:gosec // G118: renews until stop, past this call's ctx
	return func() {
		close(stop)
		<-done
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.cfg.Claims.ReleaseActivation(rctx, guid, holder); err != nil {
			s.log.Warn().Err(err).Str("guid", guid).
				Msg("releasing the device's activation claim failed; it expires by itself within the lease time")
		}
	}, nil
}

// keepClaim renews the lease every third of its length until stop closes.
func (e *Engine) keepClaim(guid, holder string, s *session, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	ttl := e.cfg.ClaimTTL
	t := time.NewTicker(ttl / 3)
	defer t.Stop()
	renewed := time.Now()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), ttl/3)
		err := e.cfg.Claims.RenewActivation(ctx, guid, holder, ttl)
		cancel()
		switch {
		case err == nil:
			renewed = time.Now()
		case errors.Is(err, store.ErrNotFound) || time.Since(renewed) >= ttl:
			s.log.Warn().Err(err).Str("guid", guid).Msg("activation claim lost; stopping the session")
			s.cancel(errClaimLost)
			return
		default:
			s.log.Warn().Err(err).Str("guid", guid).Dur("lease", ttl).
				Msg("renewing the activation claim failed; retrying while the lease lasts")
		}
	}
}
