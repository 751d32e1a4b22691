package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestActivationClaims(t *testing.T) {
	ctx := context.Background()
	s := openMigrated(t)
	guid := uuid.NewString()

	require.NoError(t, s.ClaimActivation(ctx, guid, "r1/s1", "r1", time.Minute))
	require.NoError(t, s.ClaimActivation(ctx, guid, "r1/s1", "r1", time.Minute), "the holder may claim again")
	err := s.ClaimActivation(ctx, guid, "r2/s2", "r2", time.Minute)
	require.ErrorIs(t, err, ErrClaimed)
	var ce *ClaimedError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "r1/s1", ce.Holder)
	require.Equal(t, "r1", ce.Replica)
	require.WithinDuration(t, time.Now().Add(time.Minute), ce.ExpiresAt, 10*time.Second)

	require.NoError(t, s.RenewActivation(ctx, guid, "r1/s1", time.Minute))
	require.ErrorIs(t, s.RenewActivation(ctx, guid, "r2/s2", time.Minute), ErrNotFound, "only the holder renews")
	require.NoError(t, s.ReleaseActivation(ctx, guid, "r2/s2"), "another's release leaves the claim alone")
	require.ErrorIs(t, s.ClaimActivation(ctx, guid, "r2/s2", "r2", time.Minute), ErrClaimed)
	require.NoError(t, s.ReleaseActivation(ctx, guid, "r1/s1"))
	require.NoError(t, s.ClaimActivation(ctx, guid, "r2/s2", "r2", time.Minute), "free after release")

	// An expired lease (its holder crashed) is taken over, and the old holder can no longer renew it.
	require.NoError(t, s.ClaimActivation(ctx, guid, "r2/s2", "r2", -time.Second))
	require.NoError(t, s.ClaimActivation(ctx, guid, "r3/s3", "r3", time.Minute))
	require.ErrorIs(t, s.RenewActivation(ctx, guid, "r2/s2", time.Minute), ErrNotFound)

	require.ErrorIs(t, s.ClaimActivation(ctx, "not-a-guid", "h", "r", time.Minute), ErrInvalid)
}

// Of many sessions claiming one device at once, on any number of replicas, exactly one gets it.
func TestActivationClaimsConcurrent(t *testing.T) {
	ctx := context.Background()
	s := openMigrated(t)
	guid := uuid.NewString()
	const n = 12
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = s.ClaimActivation(ctx, guid, fmt.Sprintf("r%d/s", i), fmt.Sprintf("r%d", i), time.Minute)
		}()
	}
	close(start)
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else {
			require.ErrorIs(t, err, ErrClaimed)
		}
	}
	require.Equal(t, 1, won)
}
