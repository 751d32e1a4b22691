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
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/ciragw"
	dmmetrics "github.com/dmrm/dm-manager/internal/metrics"
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
	// MaxConcurrentLookups caps the store+secrets reads in flight (default 4). A login that finds one free reads
	// at once; logins arriving while all are busy queue, and the next free read takes up to LookupBatch of them in
	// one query to the store and one to the embedded secrets backend (Vault: up to 16 Gets at once). A reconnect
	// storm so costs Postgres a few queries per hundred devices instead of two per device, and queues here rather
	// than there (each login waits at most until the gateway's handshake deadline).
	MaxConcurrentLookups int
	// LookupBatch caps the devices of one read (default 256).
	LookupBatch int
}

func (o *AuthOptions) setDefaults() {
	if o.CacheTTL == 0 {
		o.CacheTTL = time.Minute
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 20000
	}
	if o.MaxConcurrentLookups <= 0 {
		o.MaxConcurrentLookups = 4
	}
	if o.LookupBatch <= 0 {
		o.LookupBatch = 256
	}
}

// Authenticator checks CIRA logins (protocol-cira-wsman §4): the device is identified by the GUID it sent in
// PROTOCOLVERSION, never by the APF username; the username must be the one recorded for that device and the
// password the one in its secrets. It implements ciragw.Authenticator.
//
// Cost: a cold login is one primary-key read of devices plus one secrets read, shared with the logins queued
// with it (see MaxConcurrentLookups). A successful login is cached
// for CacheTTL as (GUID -> username, tenant, HMAC of the password under a per-process random key), so devices
// that reconnect (a network blip, a replaced session) cost nothing; the password itself is never kept. Only
// successes are cached: a changed password or a newly imported device takes effect at once.
type Authenticator struct {
	st     *store.Store
	sec    secrets.Store
	opts   AuthOptions
	log    zerolog.Logger
	macKey []byte
	now    func() time.Time

	mu    sync.Mutex
	byKey map[string]*list.Element // GUID -> element holding *authEntry
	lru   *list.List               // front = most recently used

	qmu     sync.Mutex
	queued  []*lookupCall // logins waiting for a read
	reading int           // reads in flight, at most MaxConcurrentLookups
}

// lookupCall is one login's place in the lookup queue; done closes once e, reason and err are set.
type lookupCall struct {
	guid   string
	done   chan struct{}
	e      *authEntry
	reason string
	err    error
}

// lookupTimeout bounds one batched read. It is not any one login's deadline: the logins of a batch wait for it
// until their own contexts end.
const lookupTimeout = 5 * time.Second

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
		macKey: key, now: time.Now,
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
	if _, err := uuid.Parse(guid); err != nil {
		return &authEntry{guid: guid}, "GUID is not a UUID", nil
	}
	c := &lookupCall{guid: guid, done: make(chan struct{})}
	a.qmu.Lock()
	a.queued = append(a.queued, c)
	start := a.reading < a.opts.MaxConcurrentLookups
	if start {
		a.reading++
	}
	a.qmu.Unlock()
	if start {
		a.read(c)
	}
	select {
	case <-c.done:
		return c.e, c.reason, c.err
	case <-ctx.Done():
		return nil, "", fmt.Errorf("devices: CIRA login of %s waited too long for its lookup: %w", guid, ctx.Err())
	}
}

// read answers queued logins, up to LookupBatch at a time, until none is left. A login that found a read free
// calls it with its own call: it reads on its own goroutine until it has its answer, then hands the rest of the
// queue to a new goroutine, so that a lone login costs no hand-over and a busy one does not serve others.
func (a *Authenticator) read(own *lookupCall) {
	for {
		a.qmu.Lock()
		n := min(len(a.queued), a.opts.LookupBatch)
		if n == 0 {
			a.reading--
			a.qmu.Unlock()
			return
		}
		if own != nil && answered(own) {
			a.qmu.Unlock()
			go a.read(nil) // the read stays counted: it moves to the goroutine
			return
		}
		batch := a.queued[:n:n]
		a.queued = slices.Clone(a.queued[n:])
		a.qmu.Unlock()
		a.readBatch(batch)
	}
}

func answered(c *lookupCall) bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// readBatch reads the devices of batch in one store query and their CIRA passwords in one secrets read, and
// answers each login. A panic fails this batch's logins only.
func (a *Authenticator) readBatch(batch []*lookupCall) {
	closed := 0
	defer func() {
		for _, c := range batch[closed:] {
			close(c.done)
		}
	}()
	defer dmmetrics.RecoverPanic("cira_auth", a.log, func(v any) {
		for _, c := range batch[closed:] {
			c.err = fmt.Errorf("devices: internal error looking up device %s for a CIRA login: %v", c.guid, v)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()

	guids := make([]string, len(batch))
	for i, c := range batch {
		guids[i] = c.guid
		c.e = &authEntry{guid: c.guid}
	}
	devs, err := a.st.GetDevices(ctx, guids)
	if err != nil {
		for _, c := range batch {
			c.e, c.err = nil, fmt.Errorf("devices: looking up device %s for a CIRA login: %w", c.guid, err)
		}
		return
	}
	paths := make(map[*lookupCall]string, len(batch))
	for _, c := range batch {
		d, ok := devs[c.guid]
		if !ok {
			c.reason = "unknown device"
			continue
		}
		c.e.tenant, c.e.username = d.TenantID, d.CIRAUsername
		if c.e.username == "" {
			c.reason = "no CIRA username recorded for the device"
			continue
		}
		path, err := secrets.Device(d.TenantID, c.guid)
		if err != nil {
			c.e, c.err = nil, fmt.Errorf("devices: secret path of device %s: %w", c.guid, err)
			continue
		}
		paths[c] = path
	}
	got := secrets.GetMany(ctx, a.sec, slices.Collect(maps.Values(paths)))
	for c, path := range paths {
		r := got[path]
		switch {
		case errors.Is(r.Err, secrets.ErrNotFound):
			c.reason = "no secrets stored for the device"
		case r.Err != nil:
			c.e, c.err = nil, fmt.Errorf("devices: reading CIRA password of device %s: %w", c.guid, r.Err)
		case r.Data[secrets.KeyCIRAPassword] == "":
			c.reason = "no CIRA password stored for the device"
		default:
			c.e.mac = a.mac(r.Data[secrets.KeyCIRAPassword])
		}
	}
	for _, c := range batch {
		close(c.done)
		closed++
	}
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
