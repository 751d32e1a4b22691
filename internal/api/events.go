package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/dmrm/dm-manager/internal/store"
)

// EventLog reads the audit trail (*store.Store satisfies it).
type EventLog interface {
	ListEvents(ctx context.Context, q store.EventQuery) ([]store.EventRecord, error)
}

//go:embed asyncapi.yaml
var asyncAPISpec []byte

// eventsJSON is the answer of GET /dm/events: the events' payloads as published on MQTT (asyncapi.yaml),
// newest first.
type eventsJSON struct {
	Events []json.RawMessage `json:"events"`
}

func (s *server) eventRoutes() []route {
	return []route{
		{http.MethodGet, "/events", permRead, s.listEvents},
	}
}

// listEvents answers the tenant's events, or one device's (guid), at or after since (RFC 3339), at most $top.
func (s *server) listEvents(w http.ResponseWriter, r *http.Request, c *call) {
	if s.Events == nil {
		writeError(w, http.StatusServiceUnavailable, "the audit trail is not available on this server")
		return
	}
	q := store.EventQuery{TenantID: c.tenant}
	v := r.URL.Query()
	if g := v.Get("guid"); g != "" {
		id, err := uuid.Parse(g)
		if err != nil {
			writeValidation(w, queryField("guid", g, "guid must be a device GUID (UUID)"))
			return
		}
		q.GUID = id.String()
	}
	if since := v.Get("since"); since != "" {
		t, err := time.Parse(time.RFC3339Nano, since)
		if err != nil {
			writeValidation(w, queryField("since", since, "since must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z"))
			return
		}
		q.Since = t
	}
	if top := v.Get("$top"); top != "" {
		n, err := strconv.Atoi(top)
		if err != nil || n < 1 || n > store.MaxEventLimit {
			writeValidation(w, queryField("$top", top, "$top must be an integer from 1 to "+
				strconv.Itoa(store.MaxEventLimit)))
			return
		}
		q.Limit = n
	}
	recs, err := s.Events.ListEvents(r.Context(), q)
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, context.DeadlineExceeded) {
			status = http.StatusGatewayTimeout
		}
		c.logger().Error().Err(err).Msg("listing events failed")
		writeError(w, status, "the audit trail could not be read; try again")
		return
	}
	out := eventsJSON{Events: make([]json.RawMessage, 0, len(recs))}
	for _, e := range recs {
		out.Events = append(out.Events, e.Payload)
	}
	writeJSON(w, http.StatusOK, out)
}

func queryField(path, value, msg string) fieldError {
	return fieldError{Type: "field", Value: value, Msg: msg, Path: path, Location: "query"}
}

// serveAsyncAPI serves the AsyncAPI document of the MQTT events.
func serveAsyncAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(asyncAPISpec)
}
