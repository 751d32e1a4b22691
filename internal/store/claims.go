package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrClaimed: the device is claimed by another holder whose lease has not expired; the *ClaimedError says who.
var ErrClaimed = errors.New("claimed by another session")

// ClaimedError names the current holder of a device's activation claim. errors.Is(err, ErrClaimed) holds.
type ClaimedError struct {
	GUID      string
	Holder    string
	Replica   string
	ExpiresAt time.Time
}

func (e *ClaimedError) Error() string {
	return fmt.Sprintf("device %s is claimed by session %s on replica %s until %s", e.GUID, e.Holder, e.Replica,
		e.ExpiresAt.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrClaimed) true.
func (e *ClaimedError) Is(target error) bool { return target == ErrClaimed }

// activationClaim is a row of activation_claims (migration 0005).
type activationClaim struct {
	Holder    string    `db:"holder"`
	Replica   string    `db:"replica"`
	ExpiresAt time.Time `db:"expires_at"`
}

// ClaimActivation claims the device for one activation session (holder, on replica) for ttl: a free device or
// one whose lease expired is taken; a device held by another live lease is refused with a *ClaimedError. The
// database's clock decides expiry, so replicas' clocks need not agree.
func (s *Store) ClaimActivation(ctx context.Context, guid, holder, replica string, ttl time.Duration) error {
	if err := checkUUID("guid", guid); err != nil {
		return err
	}
	// A claim released between our two statements sends us round again; three rounds lost that way mean the
	// device is being claimed and released continuously, which the caller hears about.
	for range 3 {
		tag, err := s.db.Exec(ctx, `
			INSERT INTO activation_claims (guid, holder, replica, expires_at)
			VALUES ($1::uuid, $2, $3, now() + $4::interval)
			ON CONFLICT (guid) DO UPDATE SET holder = EXCLUDED.holder, replica = EXCLUDED.replica,
				claimed_at = now(), expires_at = EXCLUDED.expires_at
			WHERE activation_claims.expires_at <= now() OR activation_claims.holder = EXCLUDED.holder`,
			guid, holder, replica, ttl)
		if err != nil {
			return mapErr(err, "claim activation of device "+guid)
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		rows, _ := s.db.Query(ctx, `SELECT holder, replica, expires_at FROM activation_claims WHERE guid = $1::uuid`, guid)
		c, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[activationClaim])
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			continue
		case err != nil:
			return mapErr(err, "read activation claim of device "+guid)
		}
		return &ClaimedError{GUID: guid, Holder: c.Holder, Replica: c.Replica, ExpiresAt: c.ExpiresAt}
	}
	return mapErr(errors.New("the claim changed hands on every attempt; retry"), "claim activation of device "+guid)
}

// RenewActivation extends holder's lease on the device by ttl from now. ErrNotFound: the lease is no longer
// holder's (it expired and was taken over, or was released).
func (s *Store) RenewActivation(ctx context.Context, guid, holder string, ttl time.Duration) error {
	tag, err := s.db.Exec(ctx, `UPDATE activation_claims SET expires_at = now() + $3::interval
		WHERE guid = $1::uuid AND holder = $2`, guid, holder, ttl)
	if err != nil {
		return mapErr(err, "renew activation claim of device "+guid)
	}
	if tag.RowsAffected() == 0 {
		return mapErr(pgx.ErrNoRows, "renew activation claim of device "+guid)
	}
	return nil
}

// ReleaseActivation ends holder's claim on the device; a claim already gone (or taken over) is left alone.
func (s *Store) ReleaseActivation(ctx context.Context, guid, holder string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM activation_claims WHERE guid = $1::uuid AND holder = $2`, guid, holder)
	return mapErr(err, "release activation claim of device "+guid)
}
