package store

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// Migration 0008 admits the recovery kinds next to the others; unknown kinds stay refused.
func TestJournalRecoveryKinds(t *testing.T) {
	s := openMigrated(t)
	ctx := context.Background()
	seedTenants(t, s, tenantA)
	for _, k := range []OpKind{OpBoot, OpErase, OpPower} {
		_, err := s.PutJournal(ctx, JournalEntry{GUID: guid1, TenantID: tenantA, Kind: k, Step: "intent"})
		require.NoError(t, err, k)
		got, err := s.GetJournal(ctx, guid1, k)
		require.NoError(t, err)
		require.Equal(t, "intent", got.Step)
	}
	_, err := s.PutJournal(ctx, JournalEntry{GUID: guid1, TenantID: tenantA, Kind: "wipe"})
	require.ErrorIs(t, err, ErrInvalid)
}
