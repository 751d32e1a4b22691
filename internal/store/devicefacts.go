package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// MergeDeviceFacts adds or replaces the given keys of a device's cached facts (a JSON object) and keeps the others,
// e.g. the name, host name and SKU text rpc-go reports at activation beside what the reconcilers cache. ErrNotFound
// for an unknown GUID.
func (s *Store) MergeDeviceFacts(ctx context.Context, guid string, facts map[string]string) error {
	if err := checkUUID("guid", guid); err != nil {
		return err
	}
	b, err := json.Marshal(facts)
	if err != nil {
		return fmt.Errorf("store: merge facts of device %s: %w", guid, err)
	}
	tag, err := s.db.Exec(ctx, `UPDATE devices SET facts = coalesce(facts, '{}'::jsonb) || $2::jsonb, updated_at = now()
		WHERE guid = $1::uuid`, guid, string(b))
	if err != nil {
		return mapErr(err, "merge facts of device "+guid)
	}
	if tag.RowsAffected() == 0 {
		return mapErr(pgx.ErrNoRows, "merge facts of device "+guid)
	}
	return nil
}
