package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// EventRecord is one event of the audit trail (internal/events): who, what, when, and the payload as published.
type EventRecord struct {
	ID       string // UUID, unique per event
	TenantID string
	GUID     string // lower case; "" for tenant-level events
	Kind     string
	At       time.Time
	Payload  json.RawMessage // the JSON payload (a JSON object)
}

// EventQuery selects a tenant's events, newest first.
type EventQuery struct {
	TenantID string    // required
	GUID     string    // optional: one device
	Since    time.Time // optional: events at or after
	Limit    int       // 1..MaxEventLimit; 0 means DefaultEventLimit
}

// Limits of EventQuery.Limit.
const (
	DefaultEventLimit = 100
	MaxEventLimit     = 1000
)

// InsertEvents stores a batch in one statement; an ID already stored is skipped, so a retried batch never
// duplicates. An invalid record rejects the whole batch (ErrInvalid), naming its index.
func (s *Store) InsertEvents(ctx context.Context, batch []EventRecord) error {
	if len(batch) == 0 {
		return nil
	}
	n := len(batch)
	ids, tenants, guids, kinds := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	ats, payloads := make([]time.Time, 0, n), make([]string, 0, n)
	for i, e := range batch {
		if _, err := uuid.Parse(e.ID); err != nil {
			return fmt.Errorf("store: event[%d] id %q is not a UUID: %w", i, e.ID, ErrInvalid)
		}
		if e.TenantID == "" || e.Kind == "" || e.At.IsZero() || !json.Valid(e.Payload) {
			return fmt.Errorf("store: event[%d] needs a tenant, a kind, a time and a JSON payload: %w", i, ErrInvalid)
		}
		ids, tenants, guids = append(ids, e.ID), append(tenants, e.TenantID), append(guids, strings.ToLower(e.GUID))
		kinds, ats, payloads = append(kinds, e.Kind), append(ats, e.At), append(payloads, string(e.Payload))
	}
	_, err := s.db.Exec(ctx, `
		INSERT INTO events (id, tenant_id, guid, kind, at, payload)
		SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::jsonb[])
		ON CONFLICT (id) DO NOTHING`, ids, tenants, guids, kinds, ats, payloads)
	return mapErr(err, "insert events")
}

// ListEvents returns a tenant's events (or one device's), newest first.
func (s *Store) ListEvents(ctx context.Context, q EventQuery) ([]EventRecord, error) {
	if q.TenantID == "" {
		return nil, fmt.Errorf("store: list events: tenant id is required: %w", ErrInvalid)
	}
	switch {
	case q.Limit == 0:
		q.Limit = DefaultEventLimit
	case q.Limit < 0 || q.Limit > MaxEventLimit:
		return nil, fmt.Errorf("store: list events: limit %d is outside 1..%d: %w", q.Limit, MaxEventLimit, ErrInvalid)
	}
	since := q.Since
	if since.IsZero() {
		since = time.Unix(0, 0)
	}
	sql := `SELECT id::text, tenant_id, guid, kind, at, payload FROM events WHERE tenant_id = $1 AND at >= $2`
	args := []any{q.TenantID, since}
	if q.GUID != "" {
		sql += ` AND guid = $3`
		args = append(args, strings.ToLower(q.GUID))
	}
	sql += fmt.Sprintf(` ORDER BY at DESC, id LIMIT %d`, q.Limit)
	rows, _ := s.db.Query(ctx, sql, args...)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (EventRecord, error) {
		var e EventRecord
		err := row.Scan(&e.ID, &e.TenantID, &e.GUID, &e.Kind, &e.At, &e.Payload)
		return e, err
	})
	return out, mapErr(err, "list events")
}

// PruneEvents deletes events older than before and returns how many went.
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM events WHERE at < $1`, before)
	if err != nil {
		return 0, mapErr(err, "prune events")
	}
	return tag.RowsAffected(), nil
}
