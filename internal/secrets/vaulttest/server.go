// Package vaulttest is an in-process stand-in for the parts of HashiCorp Vault that internal/secrets calls: token
// lookup and renewal, AppRole and Kubernetes login, and a KV v2 mount (data read/write, metadata read/list/delete).
// Responses use Vault's JSON shapes and status codes, and token lifetimes are enforced on the server's clock: an
// expired token gets 403 {"errors":["permission denied"]}, and renewal never extends a token past its max TTL.
package vaulttest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// TokenSpec is the lifetime of tokens a login (or CreateToken) issues.
type TokenSpec struct {
	TTL       time.Duration // 0: never expires
	MaxTTL    time.Duration // 0: renewals are not capped
	Renewable bool
	Policies  []string
}

// Stats counts what the server has answered.
type Stats struct {
	AppRoleLogins    int
	KubernetesLogins int
	Lookups          int
	Renewals         int // successful renew-self calls, capped or not
	CappedRenewals   int // renewals cut short by the max TTL
	Denied           int // 403 answers
	KVReads          int
	KVWrites         int
	KVLists          int
	KVDeletes        int
}

// Server is a running stand-in; URL is its address for VAULT_ADDR.
type Server struct {
	URL  string
	addr string

	up sync.Mutex   // guards hs: the listener's life (Down/Up), apart from mu so a down server never blocks state
	hs *http.Server // nil while down

	mu       sync.Mutex
	tokens   map[string]*token
	issued   []string
	approles map[string]*appRole // by role_id
	k8sRoles map[string]*k8sRole // by role name
	mounts   map[string]*kvMount // KV v2 mounts by name
	stats    Stats
	changed  chan struct{} // closed and replaced whenever stats change
}

type token struct {
	id, accessor, path, displayName string
	policies                        []string
	meta                            map[string]string
	issued, expires, maxExpires     time.Time // zero expires: never; zero maxExpires: no cap
	creationTTL                     time.Duration
	renewable                       bool
}

type appRole struct {
	name, secretID string
	spec           TokenSpec
}

type k8sRole struct {
	jwts map[string]bool
	spec TokenSpec
}

// New starts a stand-in with one KV v2 mount named "secret" (Vault's dev-mode default).
func New() *Server {
	s := &Server{
		tokens:   map[string]*token{},
		approles: map[string]*appRole{},
		k8sRoles: map[string]*k8sRole{},
		mounts:   map[string]*kvMount{"secret": newKVMount()},
		changed:  make(chan struct{}),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("vaulttest: listen on loopback: " + err.Error())
	}
	s.addr = ln.Addr().String()
	s.URL = "http://" + s.addr
	s.serve(ln)
	return s
}

func (s *Server) serve(ln net.Listener) {
	s.hs = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func(hs *http.Server) { _ = hs.Serve(ln) }(s.hs)
}

// Close shuts the server down.
func (s *Server) Close() { s.Down() }

// Down stops answering, as a Vault outage: the listener is closed (new connections are refused) and every
// established connection is closed, so in-flight calls fail. State (tokens, secrets) is kept for Up.
func (s *Server) Down() {
	s.up.Lock()
	defer s.up.Unlock()
	if s.hs != nil {
		_ = s.hs.Close()
		s.hs = nil
	}
}

// Up listens again on the same address after Down (a no-op while up).
func (s *Server) Up() error {
	s.up.Lock()
	defer s.up.Unlock()
	if s.hs != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("vaulttest: listen again on %s: %w", s.addr, err)
	}
	s.serve(ln)
	return nil
}

// AddKVMount adds another KV v2 mount.
func (s *Server) AddKVMount(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mounts[name] = newKVMount()
}

// CreateToken issues a token directly (as `vault token create` would) and returns it.
func (s *Server) CreateToken(spec TokenSpec) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueLocked(spec, "auth/token/create", "token", nil).id
}

// AddAppRole lets role_id/secret_id log in at auth/approle/login and get tokens of spec.
func (s *Server) AddAppRole(name, roleID, secretID string, spec TokenSpec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.approles[roleID] = &appRole{name: name, secretID: secretID, spec: spec}
}

// AddKubernetesRole lets the given service-account JWTs log in as role at auth/kubernetes/login.
func (s *Server) AddKubernetesRole(role string, spec TokenSpec, jwts ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &k8sRole{jwts: map[string]bool{}, spec: spec}
	for _, j := range jwts {
		r.jwts[j] = true
	}
	s.k8sRoles[role] = r
}

// SetKubernetesJWTs replaces the JWTs role accepts (a rotated service-account token).
func (s *Server) SetKubernetesJWTs(role string, jwts ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.k8sRoles[role]
	r.jwts = map[string]bool{}
	for _, j := range jwts {
		r.jwts[j] = true
	}
}

// RevokeAll revokes every token, as an operator or a Vault restart with a new storage would.
func (s *Server) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// IssuedTokens returns every token ever issued, so tests can check none leaked into logs.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

// Secret returns the current version of a KV v2 secret as stored, without going through HTTP.
func (s *Server) Secret(mount, path string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mounts[mount]
	if m == nil {
		return nil, false
	}
	e := m.entries[path]
	if e == nil {
		return nil, false
	}
	return e.versions[len(e.versions)-1].data, true
}

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// WaitFor blocks until cond holds for the counters or ctx ends.
func (s *Server) WaitFor(ctx context.Context, cond func(Stats) bool) error {
	for {
		s.mu.Lock()
		ok, ch := cond(s.stats), s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// count applies f to the stats and wakes waiters. Callers hold mu.
func (s *Server) count(f func(*Stats)) {
	f(&s.stats)
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) issueLocked(spec TokenSpec, path, display string, meta map[string]string) *token {
	now := time.Now()
	t := &token{
		id: "hvs." + randomString(24), accessor: randomString(24), path: path, displayName: display,
		policies: append([]string{"default"}, spec.Policies...), meta: meta,
		issued: now, creationTTL: spec.TTL, renewable: spec.Renewable,
	}
	if spec.TTL > 0 {
		t.expires = now.Add(spec.TTL)
	}
	if spec.MaxTTL > 0 {
		t.maxExpires = now.Add(spec.MaxTTL)
	}
	s.tokens[t.id] = t
	s.issued = append(s.issued, t.id)
	return t
}

// ServeHTTP routes /v1/... like Vault: login endpoints are unauthenticated (a token sent to them is ignored), every
// other path needs a live token first, then a handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	if !ok {
		writeErrors(w, http.StatusNotFound)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch path {
	case "auth/approle/login":
		s.appRoleLogin(w, r)
		return
	case "auth/kubernetes/login":
		s.kubernetesLogin(w, r)
		return
	}
	tok := s.authenticate(r)
	if tok == nil {
		s.count(func(st *Stats) { st.Denied++ })
		writeErrors(w, http.StatusForbidden, "permission denied")
		return
	}
	switch path {
	case "auth/token/lookup-self":
		s.lookupSelf(w, r, tok)
	case "auth/token/renew-self":
		s.renewSelf(w, r, tok)
	default:
		s.serveKV(w, r, path)
	}
}

// authenticate returns the live token of the request, dropping it if it has expired. Callers hold mu.
func (s *Server) authenticate(r *http.Request) *token {
	id := r.Header.Get("X-Vault-Token")
	if id == "" {
		id, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	t := s.tokens[id]
	if t == nil {
		return nil
	}
	if !t.expires.IsZero() && !time.Now().Before(t.expires) {
		delete(s.tokens, id)
		return nil
	}
	return t
}

// response is Vault's generic response envelope.
type response struct {
	RequestID     string     `json:"request_id"`
	LeaseID       string     `json:"lease_id"`
	Renewable     bool       `json:"renewable"`
	LeaseDuration int        `json:"lease_duration"`
	Data          any        `json:"data"`
	WrapInfo      any        `json:"wrap_info"`
	Warnings      []string   `json:"warnings"`
	Auth          *authBlock `json:"auth"`
	MountType     string     `json:"mount_type"`
}

type authBlock struct {
	ClientToken    string            `json:"client_token"`
	Accessor       string            `json:"accessor"`
	Policies       []string          `json:"policies"`
	TokenPolicies  []string          `json:"token_policies"`
	Metadata       map[string]string `json:"metadata"`
	LeaseDuration  int               `json:"lease_duration"`
	Renewable      bool              `json:"renewable"`
	EntityID       string            `json:"entity_id"`
	TokenType      string            `json:"token_type"`
	Orphan         bool              `json:"orphan"`
	MFARequirement any               `json:"mfa_requirement"`
	NumUses        int               `json:"num_uses"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeResponse(w http.ResponseWriter, r response) {
	r.RequestID = uuid.NewString()
	writeJSON(w, http.StatusOK, r)
}

// writeErrors writes Vault's error body; a 404 for a missing secret carries an empty list.
func writeErrors(w http.ResponseWriter, status int, errs ...string) {
	if errs == nil {
		errs = []string{}
	}
	writeJSON(w, status, map[string][]string{"errors": errs})
}

// decodeBody reads a JSON object body; Vault answers 400 to anything else.
func decodeBody(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	var body map[string]any
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		writeErrors(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		return nil, false
	}
	if body == nil {
		body = map[string]any{}
	}
	return body, true
}

func isWrite(r *http.Request) bool { return r.Method == http.MethodPut || r.Method == http.MethodPost }

func randomString(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
