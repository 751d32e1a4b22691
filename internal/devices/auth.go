package devices

import (
	"container/list"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
)

// AuthOptions tune the Authenticator. Zero values take the defaults named in the comments.
type AuthOptions struct {
	// CacheTTL is how long a successful login's record is reused without reading the store and secrets again
	// (default 1m; negative disables the cache). It bounds how long a device deleted on another replica can
	// still log in here; on this replica call Forget.
	CacheTTL time.Duration
	// CacheSize caps the cached records, least recently used dropped first (default 20000).
	CacheSize int
	// MaxConcurrentLookups caps the store+secrets lookups in flight, so that a reconnect storm queues here
	// (each login waits at most until the gateway's handshake deadline) instead of flooding Postgres or Vault
	// (default 16).
	MaxConcurrentLookups int
}

func (o *AuthOptions) setDefaults() {
	if o.CacheTTL == 0 {
		o.CacheTTL = time.Minute
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 20000
	}
	if o.MaxConcurrentLookups <= 0 {
		o.MaxConcurrentLookups = 16
	}
}

// Authenticator checks CIRA logins (protocol-cira-wsman §4): the device is identified by the GUID it sent in
// PROTOCOLVERSION, never by the APF username; the username must be the one recorded for that device and the
// password the one in its secrets. It implements ciragw.Authenticator.
//
// Cost: a cold login is one primary-key read of devices plus one secrets read. A successful login is cached
// for CacheTTL as (GUID -> username, tenant, HMAC of the password under a per-process random key), so devices
// that reconnect (a network blip, a replaced session) cost nothing; the password itself is never kept. Only
// successes are cached: a changed password or a newly imported device takes effect at once.
type Authenticator struct {
	st     *store.Store
	sec    secrets.Store
	opts   AuthOptions
	log    zerolog.Logger
	sem    chan struct{}
	macKey []byte
	now    func() time.Time

	mu    sync.Mutex
	byKey map[string]*list.Element // GUID -> element holding *authEntry
	lru   *list.List               // front = most recently used
}

var _ ciragw.Authenticator = (*Authenticator)(nil)

type authEntry struct {
	guid, username, tenant string
	mac                    []byte
	expires                time.Time
}

// NewAuthenticator returns an Authenticator reading devices from st and their CIRA passwords from sec.
func NewAuthenticator(st *store.Store, sec secrets.Store, opts AuthOptions, log zerolog.Logger) *Authenticator {
	opts.setDefaults()
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand never fails on supported platforms
	return &Authenticator{
		st: st, sec: sec, opts: opts, log: log.With().Str("component", "cira-auth").Logger(),
		sem: make(chan struct{}, opts.MaxConcurrentLookups), macKey: key, now: time.Now,
		byKey: make(map[string]*list.Element), lru: list.New(),
	}
}

// Authenticate returns the device's tenant, ErrAuthFailed for any refusal, or another error when the store or
// the secrets backend cannot answer (the gateway then tells AMT to retry later).
func (a *Authenticator) Authenticate(ctx context.Context, guid, username, password string) (string, error) {
	guid = strings.ToLower(guid)
	mac := a.mac(password)
	if tenant, ok := a.cached(guid, username, mac); ok {
		return tenant, nil
	}
	e, reason, err := a.lookup(ctx, guid)
	if err != nil {
		return "", err
	}
	if reason == "" && subtle.ConstantTimeCompare([]byte(username), []byte(e.username)) != 1 {
		reason = "username does not match the device's"
	}
	if reason == "" && !hmac.Equal(mac, e.mac) {
		reason = "password does not match the device's"
	}
	if reason != "" {
		a.Forget(guid)
		a.log.Debug().Str("guid", guid).Str("tenant", e.tenant).Str("reason", reason).Msg("CIRA login refused")
		return "", ErrAuthFailed
	}
	a.remember(e)
	return e.tenant, nil
}

// lookup reads the device's record; a non-empty reason means the login is refused for it.
func (a *Authenticator) lookup(ctx context.Context, guid string) (e *authEntry, reason string, err error) {
	select {
	case a.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, "", fmt.Errorf("devices: CIRA login of %s waited too long for a lookup slot: %w", guid, ctx.Err())
	}
	defer func() { <-a.sem }()

	e = &authEntry{guid: guid}
	d, err := a.st.GetDevice(ctx, guid)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return e, "unknown device", nil
	case errors.Is(err, store.ErrInvalid):
		return e, "GUID is not a UUID", nil
	case err != nil:
		return nil, "", fmt.Errorf("devices: looking up device %s for a CIRA login: %w", guid, err)
	}
	e.tenant, e.username = d.TenantID, d.CIRAUsername
	if e.username == "" {
		return e, "no CIRA username recorded for the device", nil
	}
	path, err := secrets.Device(d.TenantID, guid)
	if err != nil {
		return nil, "", fmt.Errorf("devices: secret path of device %s: %w", guid, err)
	}
	m, err := a.sec.Get(ctx, path)
	switch {
	case errors.Is(err, secrets.ErrNotFound):
		return e, "no secrets stored for the device", nil
	case err != nil:
		return nil, "", fmt.Errorf("devices: reading CIRA password of device %s: %w", guid, err)
	}
	pw := m[secrets.KeyCIRAPassword]
	if pw == "" {
		return e, "no CIRA password stored for the device", nil
	}
	e.mac = a.mac(pw)
	return e, "", nil
}

func (a *Authenticator) mac(password string) []byte {
	h := hmac.New(sha256.New, a.macKey)
	h.Write([]byte(password))
	return h.Sum(nil)
}

func (a *Authenticator) cached(guid, username string, mac []byte) (string, bool) {
	if a.opts.CacheTTL < 0 {
		return "", false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	el, ok := a.byKey[guid]
	if !ok {
		return "", false
	}
	e := el.Value.(*authEntry)
	if !a.now().Before(e.expires) {
		a.removeLocked(el)
		return "", false
	}
	// A mismatch is not a refusal: the password may have changed since, so the caller asks the backend.
	if subtle.ConstantTimeCompare([]byte(username), []byte(e.username)) != 1 || !hmac.Equal(mac, e.mac) {
		return "", false
	}
	a.lru.MoveToFront(el)
	return e.tenant, true
}

func (a *Authenticator) remember(e *authEntry) {
	if a.opts.CacheTTL < 0 {
		return
	}
	e.expires = a.now().Add(a.opts.CacheTTL)
	a.mu.Lock()
	defer a.mu.Unlock()
	if el, ok := a.byKey[e.guid]; ok {
		el.Value = e
		a.lru.MoveToFront(el)
		return
	}
	a.byKey[e.guid] = a.lru.PushFront(e)
	for a.lru.Len() > a.opts.CacheSize {
		a.removeLocked(a.lru.Back())
	}
}

// Forget drops the cached login of a device; call it when the device is deleted or its CIRA credentials change.
func (a *Authenticator) Forget(guid string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if el, ok := a.byKey[strings.ToLower(guid)]; ok {
		a.removeLocked(el)
	}
}

func (a *Authenticator) removeLocked(el *list.Element) {
	delete(a.byKey, el.Value.(*authEntry).guid)
	a.lru.Remove(el)
}
