package store

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/store/storetest"
)

var testDSN string

func TestMain(m *testing.M) {
	if fuzzWorker() { // fuzz targets need no database; workers must not drop the one the tests use
		os.Exit(m.Run())
	}
	dsn, drop, err := storetest.CreateDatabase("dmm_store_test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testDSN = dsn
	code := m.Run()
	if err := drop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// openEmpty returns a Store on a database whose public schema has just been emptied.
func openEmpty(t testing.TB) *Store {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, testDSN, ConnectOptions{}, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(s.Close)
	_, err = s.pool.Exec(ctx, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")
	require.NoError(t, err)
	return s
}

// openMigrated returns a Store on an empty, migrated database.
func openMigrated(t testing.TB) *Store {
	t.Helper()
	s := openEmpty(t)
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

func migrationCount(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	require.NoError(t, s.pool.QueryRow(context.Background(), "SELECT count(*) FROM schema_migrations").Scan(&n))
	return n
}

func TestMigrateTwice(t *testing.T) {
	s := openEmpty(t)
	ctx := context.Background()
	files, err := loadMigrations(mustSub(t))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	require.Equal(t, 1, files[0].version)

	require.NoError(t, s.Migrate(ctx))
	require.NoError(t, s.Migrate(ctx), "second run is a no-op")
	require.Equal(t, len(files), migrationCount(t, s))
}

func TestMigrateConcurrent(t *testing.T) {
	a := openEmpty(t)
	b, err := Open(context.Background(), testDSN, ConnectOptions{}, zerolog.Nop())
	require.NoError(t, err)
	defer b.Close()

	errs := make(chan error, 2)
	var wg sync.WaitGroup
	for _, s := range []*Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Migrate(context.Background())
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	files, err := loadMigrations(mustSub(t))
	require.NoError(t, err)
	require.Equal(t, len(files), migrationCount(t, a))
}

func TestMigrationEditedAndFailed(t *testing.T) {
	s := openEmpty(t)
	ctx := context.Background()
	v1 := fstest.MapFS{"0001_first.sql": {Data: []byte("CREATE TABLE a (x int);")}}
	require.NoError(t, s.migrate(ctx, v1))

	edited := fstest.MapFS{"0001_first.sql": {Data: []byte("CREATE TABLE a (x bigint);")}}
	err := s.migrate(ctx, edited)
	require.ErrorIs(t, err, ErrMigrationEdited)
	require.Contains(t, err.Error(), "0001_first.sql")

	// A failing file is rolled back entirely and not recorded; the DO block checks multi-statement support.
	failing := fstest.MapFS{
		"0001_first.sql": v1["0001_first.sql"],
		"0002_second.sql": {Data: []byte(`CREATE TABLE b (y int);
			DO $$ BEGIN INSERT INTO b VALUES (1); END $$;
			INSERT INTO missing VALUES (1);`)},
	}
	err = s.migrate(ctx, failing)
	require.ErrorContains(t, err, "0002_second.sql failed and was rolled back")
	var exists bool
	require.NoError(t, s.pool.QueryRow(ctx, "SELECT to_regclass('b') IS NOT NULL").Scan(&exists))
	require.False(t, exists)
	require.Equal(t, 1, migrationCount(t, s))

	for name, want := range map[string]string{"1_bad.sql": "name must be", "0003_Bad.sql": "name must be"} {
		err := s.migrate(ctx, fstest.MapFS{name: {Data: []byte("SELECT 1")}})
		require.ErrorContains(t, err, want)
	}
	err = s.migrate(ctx, fstest.MapFS{"0005_a.sql": {Data: []byte("")}, "0005_b.sql": {Data: []byte("")}})
	require.ErrorContains(t, err, "same number")
}

func TestOpenUnreachable(t *testing.T) {
	var logs bytes.Buffer
	start := time.Now()
	_, err := Open(context.Background(), "postgres://admin:pass@127.0.0.1:1/dmm?sslmode=disable",
		ConnectOptions{Retries: 2, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond},
		zerolog.New(&logs))
	require.ErrorContains(t, err, "unreachable after 3 attempts")
	require.NotContains(t, err.Error(), "pass@")
	require.Less(t, time.Since(start), 5*time.Second)
	require.Equal(t, 2, strings.Count(logs.String(), "Postgres not reachable yet; retrying"))
	require.NotContains(t, logs.String(), ":pass@")

	_, err = Open(context.Background(), "postgres://h:notaport/db", ConnectOptions{}, zerolog.Nop())
	require.ErrorContains(t, err, "cannot be parsed")
}

func TestInTxRollsBack(t *testing.T) {
	s := openMigrated(t)
	ctx := context.Background()
	boom := fmt.Errorf("boom")
	err := s.InTx(ctx, func(tx *Store) error {
		_, err := tx.UpsertTenant(ctx, Tenant{ID: tenantA})
		require.NoError(t, err)
		return boom
	})
	require.ErrorIs(t, err, boom)
	_, err = s.GetTenant(ctx, tenantA)
	require.ErrorIs(t, err, ErrNotFound)
}

func TestPoolSize(t *testing.T) {
	s, err := Open(t.Context(), testDSN, ConnectOptions{}, zerolog.Nop())
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, int32(DefaultMaxConns), s.pool.Config().MaxConns)

	sep := "?"
	if strings.Contains(testDSN, "?") {
		sep = "&"
	}
	s3, err := Open(t.Context(), testDSN+sep+"pool_max_conns=3", ConnectOptions{}, zerolog.Nop())
	require.NoError(t, err)
	defer s3.Close()
	require.Equal(t, int32(3), s3.pool.Config().MaxConns, "the database URL's pool_max_conns wins")
}
