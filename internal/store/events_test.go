package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func eventRec(tenant, guid, kind string, at time.Time) EventRecord {
	id := uuid.NewString()
	return EventRecord{ID: id, TenantID: tenant, GUID: guid, Kind: kind, At: at,
		Payload: json.RawMessage(fmt.Sprintf(`{"version":1,"id":%q,"kind":%q}`, id, kind))}
}

// The trail answers per tenant and per device, newest first, from since, at most Limit; a retried batch never
// duplicates; pruning removes only what is older than the cut.
func TestEventsTrail(t *testing.T) {
	s := openMigrated(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	tA, tB := uuid.NewString(), uuid.NewString()
	g1, g2 := uuid.NewString(), uuid.NewString()
	batch := []EventRecord{
		eventRec(tA, g1, "cira_connected", t0),
		eventRec(tA, g2, "cira_connected", t0.Add(time.Second)),
		eventRec(tA, g1, "power_done", t0.Add(2*time.Second)),
		eventRec(tA, "", "domain_added", t0.Add(3*time.Second)),
		eventRec(tB, g1, "cira_connected", t0.Add(4*time.Second)),
	}
	require.NoError(t, s.InsertEvents(ctx, batch))
	require.NoError(t, s.InsertEvents(ctx, batch), "a retried batch is skipped")

	kinds := func(rs []EventRecord) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Kind)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    EventQuery
		want []string
	}{
		{"tenant", EventQuery{TenantID: tA}, []string{"domain_added", "power_done", "cira_connected", "cira_connected"}},
		{"device", EventQuery{TenantID: tA, GUID: g1}, []string{"power_done", "cira_connected"}},
		{"device upper case", EventQuery{TenantID: tA, GUID: strings.ToUpper(g1)}, []string{"power_done", "cira_connected"}},
		{"since", EventQuery{TenantID: tA, Since: t0.Add(2 * time.Second)}, []string{"domain_added", "power_done"}},
		{"limit", EventQuery{TenantID: tA, Limit: 1}, []string{"domain_added"}},
		{"other tenant", EventQuery{TenantID: tB}, []string{"cira_connected"}},
		{"unknown tenant", EventQuery{TenantID: uuid.NewString()}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListEvents(ctx, tc.q)
			require.NoError(t, err)
			require.Equal(t, tc.want, kinds(got))
		})
	}
	got, err := s.ListEvents(ctx, EventQuery{TenantID: tA, Limit: 1})
	require.NoError(t, err)
	require.JSONEq(t, string(batch[3].Payload), string(got[0].Payload), "payload kept as stored")

	n, err := s.PruneEvents(ctx, t0.Add(2*time.Second))
	require.NoError(t, err)
	require.Equal(t, int64(2), n)
	got, err = s.ListEvents(ctx, EventQuery{TenantID: tA})
	require.NoError(t, err)
	require.Equal(t, []string{"domain_added", "power_done"}, kinds(got))
}

func TestEventsInvalid(t *testing.T) {
	s := openMigrated(t)
	ctx := context.Background()
	good := eventRec(uuid.NewString(), uuid.NewString(), "power_done", time.Now())
	for _, tc := range []struct {
		name string
		mut  func(*EventRecord)
	}{
		{"id not uuid", func(e *EventRecord) { e.ID = "x" }},
		{"no tenant", func(e *EventRecord) { e.TenantID = "" }},
		{"no kind", func(e *EventRecord) { e.Kind = "" }},
		{"no time", func(e *EventRecord) { e.At = time.Time{} }},
		{"payload not JSON", func(e *EventRecord) { e.Payload = json.RawMessage("{") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := good
			tc.mut(&e)
			err := s.InsertEvents(ctx, []EventRecord{good, e})
			require.True(t, errors.Is(err, ErrInvalid), "%v", err)
			require.Contains(t, err.Error(), "event[1]")
		})
	}
	_, err := s.ListEvents(ctx, EventQuery{})
	require.ErrorIs(t, err, ErrInvalid)
	_, err = s.ListEvents(ctx, EventQuery{TenantID: "t", Limit: MaxEventLimit + 1})
	require.ErrorIs(t, err, ErrInvalid)
}
