package vaulttest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// kvMount is one KV v2 secrets engine: every path keeps its versions until its metadata is deleted.
type kvMount struct {
	entries map[string]*kvEntry
}

type kvEntry struct {
	created, updated time.Time
	versions         []kvVersion
}

type kvVersion struct {
	data    map[string]any
	created time.Time
}

func newKVMount() *kvMount { return &kvMount{entries: map[string]*kvEntry{}} }

// serveKV routes <mount>/data/<path> and <mount>/metadata/<path>. Callers hold mu.
func (s *Server) serveKV(w http.ResponseWriter, r *http.Request, path string) {
	mountName, rest, _ := strings.Cut(path, "/")
	kind, sub, _ := strings.Cut(rest, "/")
	m := s.mounts[mountName]
	if m == nil || (kind != "data" && kind != "metadata") {
		writeErrors(w, http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", path))
		return
	}
	// The Go client sends LIST as GET ?list=true; the CLI and curl send the LIST verb. Vault takes both.
	list := r.Method == "LIST" || (r.Method == http.MethodGet && r.URL.Query().Get("list") == "true")
	key := strings.TrimSuffix(sub, "/")
	switch {
	case kind == "metadata" && list:
		s.count(func(st *Stats) { st.KVLists++ })
		m.list(w, key)
	case key == "":
		writeErrors(w, http.StatusMethodNotAllowed)
	case kind == "data" && r.Method == http.MethodGet:
		s.count(func(st *Stats) { st.KVReads++ })
		m.read(w, key)
	case kind == "data" && isWrite(r):
		s.count(func(st *Stats) { st.KVWrites++ })
		m.write(w, r, key)
	case kind == "metadata" && r.Method == http.MethodGet:
		s.count(func(st *Stats) { st.KVReads++ })
		m.readMetadata(w, key)
	case kind == "metadata" && r.Method == http.MethodDelete:
		s.count(func(st *Stats) { st.KVDeletes++ })
		delete(m.entries, key)
		w.WriteHeader(http.StatusNoContent)
	default:
		writeErrors(w, http.StatusMethodNotAllowed)
	}
}

func versionMetadata(created time.Time, version int) map[string]any {
	return map[string]any{
		"created_time": created.UTC().Format(time.RFC3339Nano), "custom_metadata": nil,
		"deletion_time": "", "destroyed": false, "version": version,
	}
}

func (m *kvMount) read(w http.ResponseWriter, key string) {
	e := m.entries[key]
	if e == nil {
		writeErrors(w, http.StatusNotFound)
		return
	}
	n := len(e.versions)
	v := e.versions[n-1]
	writeResponse(w, response{Data: map[string]any{"data": v.data, "metadata": versionMetadata(v.created, n)}})
}

func (m *kvMount) write(w http.ResponseWriter, r *http.Request, key string) {
	body, ok := decodeBody(w, r)
	if !ok {
		return
	}
	data, ok := body["data"].(map[string]any)
	if !ok {
		writeErrors(w, http.StatusBadRequest, "no data provided")
		return
	}
	e := m.entries[key]
	// options.cas: the write is accepted only if the path's current version is cas (0: no version yet).
	if opts, _ := body["options"].(map[string]any); opts != nil {
		if cas, present := opts["cas"]; present {
			want, err := strconv.Atoi(fmt.Sprint(cas)) // a json.Number (decodeBody) or a string, as Vault takes both
			if err != nil || want < 0 {
				writeErrors(w, http.StatusBadRequest, fmt.Sprintf("error converting input %v for field \"cas\"", cas))
				return
			}
			current := 0
			if e != nil {
				current = len(e.versions)
			}
			if want != current {
				writeErrors(w, http.StatusBadRequest, "check-and-set parameter did not match the current version")
				return
			}
		}
	}
	now := time.Now()
	if e == nil {
		e = &kvEntry{created: now}
		m.entries[key] = e
	}
	e.updated = now
	e.versions = append(e.versions, kvVersion{data: data, created: now})
	writeResponse(w, response{Data: versionMetadata(now, len(e.versions))})
}

func (m *kvMount) readMetadata(w http.ResponseWriter, key string) {
	e := m.entries[key]
	if e == nil {
		writeErrors(w, http.StatusNotFound)
		return
	}
	versions := map[string]any{}
	for i, v := range e.versions {
		versions[strconv.Itoa(i+1)] = map[string]any{
			"created_time": v.created.UTC().Format(time.RFC3339Nano), "deletion_time": "", "destroyed": false,
		}
	}
	writeResponse(w, response{Data: map[string]any{
		"cas_required": false, "created_time": e.created.UTC().Format(time.RFC3339Nano),
		"current_version": len(e.versions), "custom_metadata": nil, "delete_version_after": "0s",
		"max_versions": 0, "oldest_version": 0, "updated_time": e.updated.UTC().Format(time.RFC3339Nano),
		"versions": versions,
	}})
}

// list returns the immediate children of folder, sub-folders with a trailing "/", or 404 when there are none.
func (m *kvMount) list(w http.ResponseWriter, folder string) {
	prefix := ""
	if folder != "" {
		prefix = folder + "/"
	}
	var keys []string
	for p := range m.entries {
		rest, ok := strings.CutPrefix(p, prefix)
		if !ok {
			continue
		}
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[:i+1]
		}
		if !slices.Contains(keys, rest) {
			keys = append(keys, rest)
		}
	}
	if len(keys) == 0 {
		writeErrors(w, http.StatusNotFound)
		return
	}
	slices.Sort(keys)
	writeResponse(w, response{Data: map[string]any{"keys": keys}})
}
