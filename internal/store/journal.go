package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// OpKind names the kind of operation a journal entry tracks; a device has at most one entry per kind.
type OpKind string

const (
	OpPower        OpKind = "power"
	OpDeactivation OpKind = "deactivation"
)

// JournalEntry is an operation in flight (architecture.md flow 4: "every step is journaled so a restart
// neither repeats a hard action nor forgets one in flight"). Zero times mean unset.
type JournalEntry struct {
	GUID           string          `db:"guid"`
	TenantID       string          `db:"tenant_id"`
	Kind           OpKind          `db:"kind"`
	Sequence       json.RawMessage `db:"-"`       // the planned steps, owned by the reconciler; JSON
	Step           string          `db:"step"`    // the step in progress
	Desired        int32           `db:"desired"` // Inventory enum value being made true
	Policy         int32           `db:"policy"`  // power_command_policy when the operation started
	StepStartedAt  time.Time       `db:"-"`
	DeadlineAt     time.Time       `db:"-"` // when the step must be looked at again; zero: not due by time
	HardActionSent bool            `db:"hard_action_sent"`
	Attempts       int32           `db:"attempts"`
	LastError      string          `db:"last_error"`
	CreatedAt      time.Time       `db:"created_at"`
	UpdatedAt      time.Time       `db:"updated_at"`
}

const journalColumns = `guid::text AS guid, tenant_id::text AS tenant_id, kind, sequence, step, desired, policy, step_started_at,
	deadline_at, hard_action_sent, attempts, last_error, created_at, updated_at`

// journalRow is a row of journalColumns: the entry plus the columns that need converting (NULL times are zero).
type journalRow struct {
	JournalEntry
	Sequence      []byte             `db:"sequence"`
	StepStartedAt pgtype.Timestamptz `db:"step_started_at"`
	DeadlineAt    pgtype.Timestamptz `db:"deadline_at"`
}

// scanJournal reads a row of journalColumns by column name.
func scanJournal(row pgx.CollectableRow) (JournalEntry, error) {
	r, err := pgx.RowToStructByName[journalRow](row)
	e := r.JournalEntry
	e.Sequence, e.StepStartedAt, e.DeadlineAt = r.Sequence, r.StepStartedAt.Time, r.DeadlineAt.Time
	return e, err
}

// nullTime stores a zero time as NULL.
func nullTime(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// PutJournal creates or replaces the entry for (GUID, Kind); CreatedAt is kept on replace.
func (s *Store) PutJournal(ctx context.Context, e JournalEntry) (JournalEntry, error) {
	if err := checkUUID("guid", e.GUID); err != nil {
		return JournalEntry{}, err
	}
	if err := checkUUID("tenant id", e.TenantID); err != nil {
		return JournalEntry{}, err
	}
	seq := string(e.Sequence)
	if seq == "" {
		seq = "[]"
	}
	rows, _ := s.db.Query(ctx, `
		INSERT INTO journal (guid, tenant_id, kind, sequence, step, desired, policy, step_started_at, deadline_at,
			hard_action_sent, attempts, last_error)
		VALUES ($1::uuid, $2::uuid, $3, $4::jsonb, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (guid, kind) DO UPDATE SET
			tenant_id = EXCLUDED.tenant_id,
			sequence = EXCLUDED.sequence,
			step = EXCLUDED.step,
			desired = EXCLUDED.desired,
			policy = EXCLUDED.policy,
			step_started_at = EXCLUDED.step_started_at,
			deadline_at = EXCLUDED.deadline_at,
			hard_action_sent = EXCLUDED.hard_action_sent,
			attempts = EXCLUDED.attempts,
			last_error = EXCLUDED.last_error,
			updated_at = now()
		RETURNING `+journalColumns,
		e.GUID, e.TenantID, string(e.Kind), seq, e.Step, e.Desired, e.Policy, nullTime(e.StepStartedAt),
		nullTime(e.DeadlineAt), e.HardActionSent, e.Attempts, e.LastError)
	out, err := pgx.CollectExactlyOneRow(rows, scanJournal)
	return out, mapErr(err, "put journal "+string(e.Kind)+" of "+e.GUID)
}

// GetJournal returns ErrNotFound when no operation of that kind is in flight for the device.
func (s *Store) GetJournal(ctx context.Context, guid string, kind OpKind) (JournalEntry, error) {
	if err := checkUUID("guid", guid); err != nil {
		return JournalEntry{}, err
	}
	rows, _ := s.db.Query(ctx, `SELECT `+journalColumns+` FROM journal WHERE guid = $1::uuid AND kind = $2`,
		guid, string(kind))
	e, err := pgx.CollectExactlyOneRow(rows, scanJournal)
	return e, mapErr(err, "get journal "+string(kind)+" of "+guid)
}

// ListJournal returns the device's entries, one per kind at most, in kind order: one query where a reconcile
// needs several kinds.
func (s *Store) ListJournal(ctx context.Context, guid string) ([]JournalEntry, error) {
	if err := checkUUID("guid", guid); err != nil {
		return nil, err
	}
	rows, _ := s.db.Query(ctx, `SELECT `+journalColumns+` FROM journal WHERE guid = $1::uuid ORDER BY kind`, guid)
	es, err := pgx.CollectRows(rows, scanJournal)
	return es, mapErr(err, "list journal of "+guid)
}

// DeleteJournal ends an operation; deleting an absent entry is not an error (the operation is over either way).
func (s *Store) DeleteJournal(ctx context.Context, guid string, kind OpKind) error {
	if err := checkUUID("guid", guid); err != nil {
		return err
	}
	_, err := s.db.Exec(ctx, `DELETE FROM journal WHERE guid = $1::uuid AND kind = $2`, guid, string(kind))
	return mapErr(err, "delete journal "+string(kind)+" of "+guid)
}

// ListDueJournal returns entries whose deadline is at or before now, earliest first.
func (s *Store) ListDueJournal(ctx context.Context, now time.Time) ([]JournalEntry, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+journalColumns+` FROM journal
		WHERE deadline_at IS NOT NULL AND deadline_at <= $1 ORDER BY deadline_at, guid, kind`, now)
	es, err := pgx.CollectRows(rows, scanJournal)
	return es, mapErr(err, "list due journal entries")
}
