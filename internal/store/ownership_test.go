package store

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestOwnerTakeover: a device reconnecting to replica B is announced to every replica; A's late disconnect of its
// old session does not undo B's connected record; OwnedElsewhere tells A which of its sessions to close.
func TestOwnerTakeover(t *testing.T) {
	s := openMigrated(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seedFleet(t, s, 3)

	listening := make(chan struct{}, 4)
	changes := make(chan OwnerChange, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.WatchOwners(ctx, func() { listening <- struct{}{} }, func(c OwnerChange) { changes <- c })
	}()
	<-listening

	t0 := time.Now().UTC().Truncate(time.Microsecond)
	_, err := s.ApplyPresence(ctx, connectBatch(2, t0, "replica-a"))
	require.NoError(t, err)
	for range 2 {
		c := <-changes
		require.Equal(t, "replica-a", c.Owner)
		require.True(t, t0.Equal(c.ConnectedAt))
	}

	// Device 0 reconnects to B.
	t1 := t0.Add(time.Second)
	start := time.Now()
	_, err = s.ApplyPresence(ctx, []Presence{{GUID: fleetGUID(0), TenantID: tenantA, State: ConnectionConnected, At: t1,
		OwnerReplica: "replica-b", OwnerAddress: "10.0.0.2:9443"}})
	require.NoError(t, err)
	select {
	case c := <-changes:
		require.Equal(t, OwnerChange{GUID: fleetGUID(0), Owner: "replica-b", ConnectedAt: c.ConnectedAt}, c)
		require.True(t, t1.Equal(c.ConnectedAt))
		t.Logf("owner change delivered %s after the write", time.Since(start))
	case <-time.After(time.Second):
		t.Fatal("no owner notification within 1s")
	}

	elsewhere, err := s.OwnedElsewhere(ctx, "replica-a", []string{fleetGUID(0), fleetGUID(1), fleetGUID(2)})
	require.NoError(t, err)
	require.Len(t, elsewhere, 1)
	require.Equal(t, fleetGUID(0), elsewhere[0].GUID)
	require.Equal(t, "replica-b", elsewhere[0].Owner)

	// A closes its old session later: the record stays B's and connected.
	_, err = s.ApplyPresence(ctx, []Presence{{GUID: fleetGUID(0), TenantID: tenantA, State: ConnectionDisconnected,
		At: t1.Add(time.Second), OwnerReplica: "replica-a"}})
	require.NoError(t, err)
	d, err := s.GetDevice(ctx, fleetGUID(0))
	require.NoError(t, err)
	require.Equal(t, ConnectionConnected, d.ConnectionState)
	require.Equal(t, "replica-b", d.OwnerReplica)
	require.Equal(t, "10.0.0.2:9443", d.OwnerAddress)

	// Last-seen refreshes and disconnects announce nothing.
	_, err = s.ApplyPresence(ctx, []Presence{{GUID: fleetGUID(1), TenantID: tenantA, State: ConnectionDisconnected,
		At: t1, OwnerReplica: "replica-a"}})
	require.NoError(t, err)
	select {
	case c := <-changes:
		t.Fatalf("unexpected notification %+v", c)
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	<-done
}

func TestParseOwnerChange(t *testing.T) {
	c, err := parseOwnerChange(fleetGUID(1) + " replica-a 1700000000000001")
	require.NoError(t, err)
	require.Equal(t, OwnerChange{GUID: fleetGUID(1), Owner: "replica-a", ConnectedAt: time.UnixMicro(1700000000000001)}, c)
	for _, bad := range []string{"", "x replica-a 1", fleetGUID(1) + "  1", fleetGUID(1) + " a b", fleetGUID(1) + " a 1 2"} {
		_, err := parseOwnerChange(bad)
		require.ErrorIs(t, err, ErrInvalid, bad)
	}
}

func FuzzParseOwnerChange(f *testing.F) {
	f.Add(fleetGUID(1) + " replica-a 1700000000000001")
	f.Fuzz(func(t *testing.T, p string) {
		c, err := parseOwnerChange(p)
		if err == nil && (c.Owner == "" || c.GUID == "") {
			t.Fatalf("accepted %q as %+v", p, c)
		}
	})
}

// fuzzWorker reports whether this process is a fuzzing worker (go test -fuzz runs TestMain in each).
func fuzzWorker() bool {
	flag.Parse()
	f := flag.Lookup("test.fuzzworker")
	return f != nil && f.Value.String() == "true"
}
