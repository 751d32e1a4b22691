package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	dmmanager "github.com/dmrm/dm-manager"
)

// keyFileArg writes an embedded-secrets key and returns the flag pointing at it.
func keyFileArg(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "secrets.key")
	require.NoError(t, os.WriteFile(f, []byte(base64.StdEncoding.EncodeToString(make([]byte, 32))), 0o600))
	return "-secretsKeyFile=" + f
}

func runCapture(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"bad value", []string{"-passwordPolicy=x"}, 2, `-passwordPolicy: must be "static" or "dynamic", got "x"`},
		{"unknown flag", []string{"serve", "-frobnicate"}, 2, "-frobnicate"},
		{"unparsable duration", []string{"-reconcilePeriod=soon"}, 2, "-reconcilePeriod"},
		{"unknown command", []string{"explode"}, 2, `unknown command "explode"`},
		{"help", []string{"-h"}, 0, "-inventoryAddress"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCapture(t, tc.args...)
			require.Equal(t, tc.wantCode, code)
			require.Contains(t, stderr, tc.wantErr)
		})
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"serve", "-version"}} {
		code, stdout, _ := runCapture(t, args...)
		require.Equal(t, 0, code)
		require.Equal(t, dmmanager.Version+"\n", stdout)
	}
	raw, err := os.ReadFile("../../VERSION")
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(string(raw)), dmmanager.Version)
}

func TestPostgresUnreachable(t *testing.T) {
	start := time.Now()
	code, _, stderr := runCapture(t, append(localArgs(t),
		"-databaseURL=postgres://admin:pass@127.0.0.1:1/dmm?sslmode=disable",
		"-databaseConnectRetries=3", "-databaseConnectBackoff=20ms", "-databaseConnectMaxBackoff=50ms",
		"-oamServerAddress=")...)
	elapsed := time.Since(start)
	t.Logf("gave up after %s", elapsed)
	require.Equal(t, 1, code)
	require.Less(t, elapsed, 5*time.Second)
	require.Equal(t, 3, strings.Count(stderr, "Postgres not reachable yet; retrying"), stderr)
	require.Contains(t, stderr, "unreachable after 4 attempts")
	require.Contains(t, stderr, "-databaseURL")
	require.NotContains(t, stderr, "admin:pass@")
}
