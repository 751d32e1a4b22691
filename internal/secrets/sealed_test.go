package secrets

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

// testKey seals every row the tests leave behind, so Open's start-up key check passes for each test.
var testKey = bytes.Repeat([]byte{0x42}, KeySize)

func openSealed(t *testing.T) Store {
	t.Helper()
	st, err := Open(context.Background(), Options{Backend: BackendEmbedded, Key: base64.StdEncoding.EncodeToString(testKey)},
		testRows(t), zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return st
}

func devicePath(t *testing.T, tenant string) string {
	t.Helper()
	p, err := Device(tenant, uuid.NewString())
	require.NoError(t, err)
	return p
}

func TestSealedRoundTrip(t *testing.T) {
	ctx := context.Background()
	st := openSealed(t)
	p := devicePath(t, uuid.NewString())

	_, err := st.Get(ctx, p)
	require.ErrorIs(t, err, ErrNotFound)

	first := map[string]string{KeyAMTPassword: "Amt-Pass1!", KeyMEBxPassword: "Mebx-Pass1!"}
	require.NoError(t, st.Put(ctx, p, first))
	got, err := st.Get(ctx, p)
	require.NoError(t, err)
	require.Equal(t, first, got)

	second := map[string]string{KeyAMTPassword: "Amt-Pass2!"}
	require.NoError(t, st.Put(ctx, p, second))
	got, err = st.Get(ctx, p)
	require.NoError(t, err)
	require.Equal(t, second, got, "Put replaces the whole map")

	var raw []byte
	require.NoError(t, testPool(t).QueryRow(ctx, `SELECT ciphertext FROM sealed_secrets WHERE path = $1`, p).Scan(&raw))
	require.NotContains(t, string(raw), "Amt-Pass2!", "the value is sealed at rest")

	require.NoError(t, st.Put(ctx, p, nil))
	got, err = st.Get(ctx, p)
	require.NoError(t, err)
	require.Empty(t, got)

	require.NoError(t, st.Delete(ctx, p))
	_, err = st.Get(ctx, p)
	require.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, st.Delete(ctx, p), "deleting a missing path is not an error")

	require.ErrorIs(t, st.Put(ctx, "tenants/../x", first), ErrInvalidPath)
}

func TestSealedWrongKey(t *testing.T) {
	ctx := context.Background()
	st := openSealed(t)
	p := devicePath(t, uuid.NewString())
	require.NoError(t, st.Put(ctx, p, map[string]string{KeyAMTPassword: "x"}))

	otherKey := bytes.Repeat([]byte{0x17}, KeySize)
	_, err := Open(ctx, Options{Backend: BackendEmbedded, Key: base64.StdEncoding.EncodeToString(otherKey)}, testRows(t), zerolog.Nop())
	require.ErrorIs(t, err, ErrKeyMismatch, "start-up refuses a key the rows were not sealed with")
	require.ErrorContains(t, err, "secrets key does not match the one the data was sealed with")

	// A row read with another key (the start-up check bypassed) names the mismatch instead of "tampered".
	wrong, err := newSealer(testRows(t), otherKey)
	require.NoError(t, err)
	_, err = wrong.Get(ctx, p)
	require.ErrorIs(t, err, ErrKeyMismatch)
	require.ErrorContains(t, err, p)
}

// flipCiphertextBit tampers with the row at $1 as a disk or a hand on the database could.
const flipCiphertextBit = `UPDATE sealed_secrets SET ciphertext = set_byte(ciphertext, 0, get_byte(ciphertext, 0) # 1) WHERE path = $1`

func TestSealedTampered(t *testing.T) {
	ctx := context.Background()
	st := openSealed(t)
	tenant := uuid.NewString()
	a, b := devicePath(t, tenant), devicePath(t, tenant)
	require.NoError(t, st.Put(ctx, a, map[string]string{KeyAMTPassword: "for-a"}))
	require.NoError(t, st.Put(ctx, b, map[string]string{KeyAMTPassword: "for-b"}))

	tests := []struct {
		name, sql, path string
	}{
		{"flipped ciphertext bit", flipCiphertextBit, a},
		{"row copied to another path", `UPDATE sealed_secrets AS d SET nonce = s.nonce, ciphertext = s.ciphertext
			FROM sealed_secrets AS s WHERE d.path = $1 AND s.path = $2`, b},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := []any{tc.path}
			if tc.path == b {
				args = append(args, a)
			}
			_, err := testPool(t).Exec(ctx, tc.sql, args...)
			require.NoError(t, err)
			_, err = st.Get(ctx, tc.path)
			require.ErrorIs(t, err, ErrTampered)
			require.NotContains(t, err.Error(), "for-")
		})
	}
}

func TestSealedDeletePrefix(t *testing.T) {
	ctx := context.Background()
	st := openSealed(t)
	gone, kept := uuid.NewString(), uuid.NewString()
	var gonePaths, keptPaths []string
	for _, tenant := range []string{gone, kept} {
		pw, err := TenantAMTPassword(tenant)
		require.NoError(t, err)
		dom, err := Domain(tenant, "Corp_1")
		require.NoError(t, err)
		paths := []string{pw, dom, devicePath(t, tenant), devicePath(t, tenant)}
		for _, p := range paths {
			require.NoError(t, st.Put(ctx, p, map[string]string{"k": p}))
		}
		if tenant == gone {
			gonePaths = paths
		} else {
			keptPaths = paths
		}
	}
	// '_' is a LIKE wildcard; a prefix must match literally.
	require.NoError(t, st.Put(ctx, "demoXa/x", map[string]string{"k": "v"}))

	pfx, err := TenantPrefix(gone)
	require.NoError(t, err)
	require.NoError(t, st.DeletePrefix(ctx, pfx))
	require.NoError(t, st.DeletePrefix(ctx, "demo_a/"))
	for _, p := range gonePaths {
		_, err := st.Get(ctx, p)
		require.ErrorIs(t, err, ErrNotFound, p)
	}
	for _, p := range append(keptPaths, "demoXa/x") {
		_, err := st.Get(ctx, p)
		require.NoError(t, err, p)
	}
	require.ErrorIs(t, st.DeletePrefix(ctx, "tenants"), ErrInvalidPath, "a prefix ends in /")
	require.ErrorIs(t, st.DeletePrefix(ctx, "/"), ErrInvalidPath)
}

func TestSealedConcurrentPut(t *testing.T) {
	ctx := context.Background()
	st := openSealed(t)
	tenant := uuid.NewString()
	shared := devicePath(t, tenant)
	const writers = 16
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	for i := range writers {
		wg.Go(func() {
			v := fmt.Sprintf("value-%d", i)
			errs <- st.Put(ctx, shared, map[string]string{"v": v})
			own, err := Device(tenant, uuid.NewSHA1(uuid.NameSpaceOID, []byte(v)).String())
			if err == nil {
				err = st.Put(ctx, own, map[string]string{"v": v})
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	got, err := st.Get(ctx, shared)
	require.NoError(t, err, "the last writer's row opens intact")
	require.Regexp(t, `^value-\d+$`, got["v"])
	var n int
	pfx, _ := TenantPrefix(tenant)
	require.NoError(t, testPool(t).QueryRow(ctx, `SELECT count(*) FROM sealed_secrets WHERE starts_with(path, $1)`, pfx).Scan(&n))
	require.Equal(t, writers+1, n)
}

func TestOpenEmbeddedKeyFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.key")
	require.NoError(t, os.WriteFile(good, []byte(base64.StdEncoding.EncodeToString(testKey)+"\n"), 0o600))
	short := filepath.Join(dir, "short.key")
	require.NoError(t, os.WriteFile(short, []byte(base64.StdEncoding.EncodeToString([]byte("sixteen-byte-key"))), 0o600))

	tests := []struct {
		name string
		opts Options
		pool bool
		want string
	}{
		{"key file", Options{Backend: BackendEmbedded, KeyFile: good}, true, ""},
		{"short key", Options{Backend: BackendEmbedded, KeyFile: short}, true, "decodes to 16 bytes, want 32"},
		{"missing file", Options{Backend: BackendEmbedded, KeyFile: filepath.Join(dir, "none")}, true, "read -secretsKeyFile"},
		{"not base64", Options{Backend: BackendEmbedded, Key: "%%%secret-text"}, true, "DM_SECRETS_KEY is not valid base64"},
		{"no store", Options{Backend: BackendEmbedded, KeyFile: good}, false, "needs the database"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rows SealedRows = testRows(t)
			if !tc.pool {
				rows = nil
			}
			st, err := Open(context.Background(), tc.opts, rows, zerolog.Nop())
			if tc.want == "" {
				require.NoError(t, err)
				st.Close()
				return
			}
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), "secret-text", "key material is never echoed")
		})
	}
}
