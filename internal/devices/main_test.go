package devices

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/internal/store/storetest"
)

// The database is created on first use, so that fuzz workers, which need none, do not race to create it.
var (
	dbOnce  sync.Once
	testDSN string
	dbErr   error
	dropDB  func() error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if dropDB != nil {
		if err := dropDB(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	os.Exit(code)
}

// backends opens the shared test database (migrated) and the embedded secrets store on it. Tests keep apart
// by using fresh random tenants, GUIDs and usernames.
func backends(t testing.TB) (*store.Store, secrets.Store) {
	t.Helper()
	dbOnce.Do(func() { testDSN, dropDB, dbErr = storetest.CreateDatabase("dmm_devices_test") })
	require.NoError(t, dbErr)
	ctx := context.Background()
	st, err := store.Open(ctx, testDSN, store.ConnectOptions{}, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(st.Close)
	require.NoError(t, st.Migrate(ctx))
	key := base64.StdEncoding.EncodeToString(make([]byte, secrets.KeySize))
	sec, err := secrets.Open(ctx, secrets.Options{Backend: secrets.BackendEmbedded, Key: key}, st, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(sec.Close)
	return st, sec
}

// testDevice is one recorded device with CIRA credentials.
type testDevice struct {
	guid, tenant, username, ciraPassword, amtPassword string
}

// newTenant records a fresh tenant.
func newTenant(t testing.TB, st *store.Store) string {
	t.Helper()
	id := uuid.NewString()
	_, err := st.UpsertTenant(context.Background(), store.Tenant{ID: id})
	require.NoError(t, err)
	return id
}

// randomUsername is a CIRA username no other test uses.
func randomUsername() string {
	const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 12)
	for i := range b {
		b[i] = alnum[rand.IntN(len(alnum))]
	}
	return string(b)
}

// recordDevice stores a device of tenant with CIRA credentials, as activation would.
func recordDevice(t testing.TB, st *store.Store, sec secrets.Store, tenant string) testDevice {
	t.Helper()
	ctx := context.Background()
	d := testDevice{guid: uuid.NewString(), tenant: tenant, username: randomUsername(), ciraPassword: "Cira-" + randomUsername(),
		amtPassword: "Amt-P4ss-" + randomUsername()}
	_, err := st.UpsertDevice(ctx, store.Device{GUID: d.guid, TenantID: tenant, CIRAUsername: d.username,
		ControlMode: store.ControlModeCCM, ActivationState: store.StateActivated})
	require.NoError(t, err)
	path, err := secrets.Device(tenant, d.guid)
	require.NoError(t, err)
	require.NoError(t, sec.Put(ctx, path, map[string]string{secrets.KeyCIRAUsername: d.username,
		secrets.KeyCIRAPassword: d.ciraPassword, secrets.KeyAMTPassword: d.amtPassword}))
	return d
}
