package devices

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
)

func TestAuthenticate(t *testing.T) {
	st, sec := backends(t)
	ctx := context.Background()
	tenant := newTenant(t, st)
	dev := recordDevice(t, st, sec, tenant)
	other := recordDevice(t, st, sec, tenant)

	// A device recorded without secrets, and one without a CIRA username.
	noSecrets := uuid.NewString()
	_, err := st.UpsertDevice(ctx, store.Device{GUID: noSecrets, TenantID: tenant, CIRAUsername: randomUsername()})
	require.NoError(t, err)
	noUser := uuid.NewString()
	_, err = st.UpsertDevice(ctx, store.Device{GUID: noUser, TenantID: tenant})
	require.NoError(t, err)
	path, err := secrets.Device(tenant, noUser)
	require.NoError(t, err)
	require.NoError(t, sec.Put(ctx, path, map[string]string{secrets.KeyCIRAPassword: "Only-Secret-9"}))
	noSecretsUser := func() string {
		d, err := st.GetDevice(ctx, noSecrets)
		require.NoError(t, err)
		return d.CIRAUsername
	}()

	tests := []struct {
		name, guid, user, pass string
		reason                 string // logged at debug; "" = accepted
	}{
		{"right credentials", dev.guid, dev.username, dev.ciraPassword, ""},
		{"GUID in upper case", strings.ToUpper(dev.guid), dev.username, dev.ciraPassword, ""},
		{"wrong password", dev.guid, dev.username, dev.ciraPassword + "x", "password does not match"},
		{"empty password", dev.guid, dev.username, "", "password does not match"},
		{"wrong username", dev.guid, other.username, dev.ciraPassword, "username does not match"},
		{"another device's credentials", dev.guid, other.username, other.ciraPassword, "username does not match"},
		{"credentials of this device from another GUID", other.guid, dev.username, dev.ciraPassword, "username does not match"},
		{"unknown device", uuid.NewString(), dev.username, dev.ciraPassword, "unknown device"},
		{"GUID not a UUID", "not-a-guid", dev.username, dev.ciraPassword, "GUID is not a UUID"},
		{"no secrets", noSecrets, noSecretsUser, "Only-Secret-8", "no secrets stored"},
		{"no CIRA username", noUser, "", "Only-Secret-9", "no CIRA username recorded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			a := NewAuthenticator(st, sec, AuthOptions{}, zerolog.New(&logs).Level(zerolog.DebugLevel))
			got, err := a.Authenticate(ctx, tc.guid, tc.user, tc.pass)
			if tc.reason == "" {
				require.NoError(t, err)
				require.Equal(t, tenant, got)
				return
			}
			require.ErrorIs(t, err, ErrAuthFailed)
			require.ErrorIs(t, err, ciragw.ErrBadCredentials, "the gateway must see a refusal, not a backend error")
			require.Equal(t, ErrAuthFailed.Error(), err.Error(), "every refusal reads the same")
			require.Empty(t, got)
			require.Contains(t, logs.String(), tc.reason)
			if tc.pass != "" {
				require.NotContains(t, logs.String(), tc.pass)
			}
			require.NotContains(t, logs.String(), dev.ciraPassword)
		})
	}
}

func TestAuthenticateBackendFailure(t *testing.T) {
	st, sec := backends(t)
	dev := recordDevice(t, st, sec, newTenant(t, st))
	broken, err := store.Open(context.Background(), testDSN, store.ConnectOptions{}, zerolog.Nop())
	require.NoError(t, err)
	broken.Close()

	a := NewAuthenticator(broken, sec, AuthOptions{}, zerolog.Nop())
	_, err = a.Authenticate(context.Background(), dev.guid, dev.username, dev.ciraPassword)
	require.Error(t, err)
	require.NotErrorIs(t, err, ciragw.ErrBadCredentials, "a backend failure must not count against the device")
	require.NotErrorIs(t, err, ciragw.ErrUnknownDevice)

	// A login waiting for a lookup gives up with its context.
	a = NewAuthenticator(st, sec, AuthOptions{MaxConcurrentLookups: 1}, zerolog.Nop())
	a.reading = 1 // every read busy
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = a.Authenticate(ctx, dev.guid, dev.username, dev.ciraPassword)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, ciragw.ErrBadCredentials)
}

// TestAuthenticateBatch: logins queued while every read is busy are answered by one read, each on its own
// merits: right and wrong credentials, unknown devices and devices without secrets in the same batch.
func TestAuthenticateBatch(t *testing.T) {
	st, sec := backends(t)
	ctx := context.Background()
	tenant := newTenant(t, st)
	noSecrets := uuid.NewString()
	_, err := st.UpsertDevice(ctx, store.Device{GUID: noSecrets, TenantID: tenant, CIRAUsername: randomUsername()})
	require.NoError(t, err)

	type login struct {
		guid, user, pass string
		ok               bool
	}
	var logins []login
	for i := range 40 {
		d := recordDevice(t, st, sec, tenant)
		switch i % 4 {
		case 0, 1:
			logins = append(logins, login{d.guid, d.username, d.ciraPassword, true})
		case 2:
			logins = append(logins, login{d.guid, d.username, d.ciraPassword + "x", false})
		default:
			logins = append(logins, login{uuid.NewString(), d.username, d.ciraPassword, false})
		}
	}
	logins = append(logins, login{noSecrets, "any", "Any-Secret-1", false}, logins[0]) // the same device twice too

	a := NewAuthenticator(st, sec, AuthOptions{MaxConcurrentLookups: 1, LookupBatch: 64}, zerolog.Nop())
	a.reading = 1 // the one read is busy: every login queues
	errs := make([]error, len(logins))
	var wg sync.WaitGroup
	for i, l := range logins {
		wg.Go(func() { _, errs[i] = a.Authenticate(ctx, l.guid, l.user, l.pass) })
	}
	require.Eventually(t, func() bool {
		a.qmu.Lock()
		defer a.qmu.Unlock()
		return len(a.queued) == len(logins)
	}, 10*time.Second, time.Millisecond)
	go a.read(nil) // the busy read ends and takes the queue: one batch
	wg.Wait()
	for i, l := range logins {
		if l.ok {
			require.NoError(t, errs[i], "login %d", i)
		} else {
			require.ErrorIs(t, errs[i], ErrAuthFailed, "login %d", i)
		}
	}
	a.qmu.Lock()
	defer a.qmu.Unlock()
	require.Empty(t, a.queued)
	require.Zero(t, a.reading)
}

func TestAuthenticateCache(t *testing.T) {
	st, sec := backends(t)
	ctx := context.Background()
	tenant := newTenant(t, st)
	dev := recordDevice(t, st, sec, tenant)
	path, err := secrets.Device(tenant, dev.guid)
	require.NoError(t, err)

	now := time.Now()
	a := NewAuthenticator(st, sec, AuthOptions{CacheTTL: time.Minute}, zerolog.Nop())
	a.now = func() time.Time { return now }
	login := func(pass string) error {
		_, err := a.Authenticate(ctx, dev.guid, dev.username, pass)
		return err
	}
	require.NoError(t, login(dev.ciraPassword))

	// A changed password takes effect at once: a cache mismatch asks the backend.
	require.NoError(t, sec.Put(ctx, path, map[string]string{secrets.KeyCIRAPassword: "New-Cira-1"}))
	require.NoError(t, login("New-Cira-1"))
	require.ErrorIs(t, login(dev.ciraPassword), ErrAuthFailed)
	require.NoError(t, login("New-Cira-1"))

	// With the backend gone, the cached login still works until it expires or is forgotten.
	require.NoError(t, sec.Delete(ctx, path))
	require.NoError(t, login("New-Cira-1"))
	now = now.Add(time.Minute)
	require.ErrorIs(t, login("New-Cira-1"), ErrAuthFailed)

	require.NoError(t, sec.Put(ctx, path, map[string]string{secrets.KeyCIRAPassword: "New-Cira-1"}))
	require.NoError(t, login("New-Cira-1"))
	a.Forget(strings.ToUpper(dev.guid))
	require.NoError(t, st.DeleteDevice(ctx, dev.guid))
	require.ErrorIs(t, login("New-Cira-1"), ErrAuthFailed)

	// The cache holds at most CacheSize devices, least recently used out first.
	small := NewAuthenticator(st, sec, AuthOptions{CacheSize: 2}, zerolog.Nop())
	devs := []testDevice{recordDevice(t, st, sec, tenant), recordDevice(t, st, sec, tenant), recordDevice(t, st, sec, tenant)}
	for _, d := range devs {
		_, err := small.Authenticate(ctx, d.guid, d.username, d.ciraPassword)
		require.NoError(t, err)
	}
	require.Equal(t, 2, small.lru.Len())
	require.NotContains(t, small.byKey, devs[0].guid)
	require.Contains(t, small.byKey, devs[2].guid)

	// A negative TTL disables the cache.
	off := NewAuthenticator(st, sec, AuthOptions{CacheTTL: -1}, zerolog.Nop())
	_, err = off.Authenticate(ctx, devs[0].guid, devs[0].username, devs[0].ciraPassword)
	require.NoError(t, err)
	require.Zero(t, off.lru.Len())
}

// BenchmarkAuthenticate measures a login against the local Postgres and the embedded secrets backend: cold
// (store + secrets read every time) and cached (a reconnect within CacheTTL).
func BenchmarkAuthenticate(b *testing.B) {
	st, sec := backends(b)
	ctx := context.Background()
	tenant := newTenant(b, st)
	dev := recordDevice(b, st, sec, tenant)
	fleet := make([]testDevice, 512)
	for i := range fleet {
		fleet[i] = recordDevice(b, st, sec, tenant)
	}
	for _, bc := range []struct {
		name string
		ttl  time.Duration
	}{{"cold", -1}, {"cached", time.Hour}} {
		b.Run(bc.name, func(b *testing.B) {
			a := NewAuthenticator(st, sec, AuthOptions{CacheTTL: bc.ttl}, zerolog.Nop())
			for b.Loop() {
				if _, err := a.Authenticate(ctx, dev.guid, dev.username, dev.ciraPassword); err != nil {
					b.Fatal(err)
				}
			}
		})
		// A reconnect storm: 64 logins at once per core, of 512 different devices.
		b.Run(bc.name+"-storm", func(b *testing.B) {
			a := NewAuthenticator(st, sec, AuthOptions{CacheTTL: bc.ttl}, zerolog.Nop())
			var next atomic.Int64
			b.SetParallelism(64)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					d := fleet[next.Add(1)%int64(len(fleet))]
					if _, err := a.Authenticate(ctx, d.guid, d.username, d.ciraPassword); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		b.Run(bc.name+"-parallel", func(b *testing.B) {
			a := NewAuthenticator(st, sec, AuthOptions{CacheTTL: bc.ttl}, zerolog.Nop())
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := a.Authenticate(ctx, dev.guid, dev.username, dev.ciraPassword); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
