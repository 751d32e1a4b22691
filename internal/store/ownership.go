package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ownerChannel is the NOTIFY channel of migration 0004: a device's session was recorded on an owner.
const ownerChannel = "dm_device_owner"

// OwnerChange says that replica Owner recorded a session of the device that started at ConnectedAt.
type OwnerChange struct {
	GUID        string    `db:"guid"`
	Owner       string    `db:"owner"`
	ConnectedAt time.Time `db:"connected_at"`
}

// parseOwnerChange reads a dm_device_owner payload: "<guid> <owner> <connected_at unix µs>".
func parseOwnerChange(payload string) (OwnerChange, error) {
	parts := strings.Split(payload, " ")
	if len(parts) != 3 || parts[1] == "" {
		return OwnerChange{}, fmt.Errorf("store: owner notification %q: want \"<guid> <owner> <µs>\": %w", payload, ErrInvalid)
	}
	id, err := uuid.Parse(parts[0])
	if err != nil {
		return OwnerChange{}, fmt.Errorf("store: owner notification %q: guid: %w", payload, ErrInvalid)
	}
	us, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return OwnerChange{}, fmt.Errorf("store: owner notification %q: time: %w", payload, ErrInvalid)
	}
	return OwnerChange{GUID: id.String(), Owner: parts[1], ConnectedAt: time.UnixMicro(us)}, nil
}

// WatchOwners calls onChange for every session recorded by any replica, until ctx ends. It listens on its own
// connection; after every (re)connect it calls onListening, so the caller can compare what it holds with the
// store for what it missed while not listening (OwnedElsewhere). A lost connection is retried with backoff.
func (s *Store) WatchOwners(ctx context.Context, onListening func(), onChange func(OwnerChange)) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOwners(ctx, onListening, onChange)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn().Err(err).Dur("retry_in", backoff).Msg("listening for device owner changes failed; will retry")
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (s *Store) listenOwners(ctx context.Context, onListening func(), onChange func(OwnerChange)) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("store: connecting to listen for owner changes: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+ownerChannel); err != nil {
		return fmt.Errorf("store: LISTEN %s: %w", ownerChannel, err)
	}
	onListening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("store: waiting for owner changes: %w", err)
		}
		ch, err := parseOwnerChange(n.Payload)
		if err != nil {
			s.log.Warn().Err(err).Msg("ignoring a malformed owner notification")
			continue
		}
		onChange(ch)
	}
}

// OwnedElsewhere returns, of the given devices (sessions this replica holds), those the store records as
// connected to another replica: the sessions this replica must close. Unknown devices are left out.
func (s *Store) OwnedElsewhere(ctx context.Context, replica string, guids []string) ([]OwnerChange, error) {
	if len(guids) == 0 {
		return nil, nil
	}
	for i, g := range guids {
		if err := checkUUID(fmt.Sprintf("guid[%d]", i), g); err != nil {
			return nil, err
		}
	}
	rows, err := s.db.Query(ctx, `
SELECT guid::text AS guid, owner_replica AS owner, connected_at
FROM devices
WHERE guid = ANY($1::uuid[]) AND connection_state = 'connected' AND owner_replica NOT IN ('', $2)`, guids, replica)
	if err != nil {
		return nil, mapErr(err, "read owners of sessions held here")
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[OwnerChange])
	if err != nil {
		return nil, mapErr(err, "read owners of sessions held here")
	}
	return out, nil
}
