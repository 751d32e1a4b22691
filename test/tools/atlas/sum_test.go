package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const inventoryModule = "github.com/open-edge-platform/infra-core/inventory/v2"

// inventoryMigrationsDir finds the migrations shipped with the Inventory module in go.mod.
func inventoryMigrationsDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", inventoryModule).Output()
	require.NoError(t, err, "locate %s in the module cache", inventoryModule)
	return filepath.Join(strings.TrimSpace(string(out)), "internal", "ent", "migrate", "migrations")
}

// copyMigrations copies the Inventory migrations (*.sql and atlas.sum) into a temp dir the test may change.
func copyMigrations(t *testing.T) string {
	t.Helper()
	src, dst := inventoryMigrationsDir(t), t.TempDir()
	names, err := filepath.Glob(filepath.Join(src, "*.sql"))
	require.NoError(t, err)
	for _, n := range append(names, filepath.Join(src, sumFileName)) {
		b, err := os.ReadFile(n)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, filepath.Base(n)), b, 0o600))
	}
	return dst
}

func TestComputeSumMatchesInventoryAtlasSum(t *testing.T) {
	dir := inventoryMigrationsDir(t)
	files, err := readDir(dir)
	require.NoError(t, err)
	require.NotEmpty(t, files)
	want, err := os.ReadFile(filepath.Join(dir, sumFileName))
	require.NoError(t, err)
	require.Equal(t, string(want), string(computeSum(files).marshal()))
	sum, err := validate(dir, files)
	require.NoError(t, err)
	require.Len(t, sum, len(files))
}

func TestValidateReportsMismatch(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, dir string)
		want   string
	}{
		{"edited", func(t *testing.T, dir string) {
			appendFile(t, filepath.Join(dir, "20250527203300_amt.sql"), "\n-- edited\n")
		}, "20250527203300_amt.sql edited"},
		{"removed", func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, "20250527203300_amt.sql")))
		}, "20250527203300_amt.sql removed"},
		{"added at end", func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "29990101000000_new.sql"), []byte("SELECT 1;"), 0o600))
		}, "29990101000000_new.sql added"},
		{"added in the middle", func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "20250400000000_new.sql"), []byte("SELECT 1;"), 0o600))
		}, "20250400000000_new.sql added"},
		{"sum file tampered", func(t *testing.T, dir string) {
			p := filepath.Join(dir, sumFileName)
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(b), "h1:W", "h1:X", 1)), 0o600))
		}, "atlas.sum directory hash does not match its entries"},
		{"sum file missing", func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, sumFileName)))
		}, "atlas.sum not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyMigrations(t)
			tt.change(t, dir)
			files, err := readDir(dir)
			require.NoError(t, err)
			_, err = validate(dir, files)
			require.ErrorIs(t, err, ErrChecksum)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestParseSumRejectsMalformedLine(t *testing.T) {
	_, err := parseSum([]byte("h1:abc\nno-hash-here\n"))
	require.ErrorIs(t, err, ErrChecksum)
	require.Contains(t, err.Error(), "line 2")
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(text)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}
