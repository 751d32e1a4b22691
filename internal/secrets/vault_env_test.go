package secrets

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/secrets/vaulttest"
	"github.com/dmrm/dm-manager/internal/testlog"
)

// Credentials the stand-in accepts; the log tests look for them.
const (
	testRoleID   = "role-id-3c1f"
	testSecretID = "secret-id-9a7e"
	testJWT      = "eyJhbGciOiJSUzI1NiJ9.sa-token-one.sig"
	testK8sRole  = "orch-svc"
)

type vaultEnv struct {
	srv  *vaulttest.Server
	opts Options
	logs *testlog.Buffer
}

// newVaultEnv starts a stand-in whose tokens for auth follow spec, and options that log in with auth.
func newVaultEnv(t *testing.T, auth string, spec vaulttest.TokenSpec) *vaultEnv {
	t.Helper()
	srv := vaulttest.New()
	t.Cleanup(srv.Close)
	o := Options{Backend: BackendVault, VaultAddress: srv.URL, VaultAuth: auth, VaultKVMount: "secret", VaultPathPrefix: "dm-manager"}
	switch auth {
	case AuthToken:
		o.VaultToken = srv.CreateToken(spec)
	case AuthAppRole:
		srv.AddAppRole("dm-manager", testRoleID, testSecretID, spec)
		o.VaultRoleID, o.VaultSecretID = testRoleID, testSecretID
	case AuthKubernetes:
		srv.AddKubernetesRole(testK8sRole, spec, testJWT)
		o.VaultRole = testK8sRole
		o.VaultK8sTokenPath = filepath.Join(t.TempDir(), "token")
		require.NoError(t, os.WriteFile(o.VaultK8sTokenPath, []byte(testJWT+"\n"), 0o600))
	}
	return &vaultEnv{srv: srv, opts: o, logs: &testlog.Buffer{}}
}

func (e *vaultEnv) open(t *testing.T) Store {
	t.Helper()
	st, err := Open(context.Background(), e.opts, nil, zerolog.New(e.logs).Level(zerolog.DebugLevel))
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return st
}

func (e *vaultEnv) logins() int {
	s := e.srv.Stats()
	return s.AppRoleLogins + s.KubernetesLogins
}

// exerciseUntil writes and reads path every 20ms until cond holds for the stand-in's counters (or 15s pass), and
// returns how many round trips ran and every error met. Each value written is read back.
func (e *vaultEnv) exerciseUntil(t *testing.T, st Store, path string, cond func(vaulttest.Stats) bool) (int, []error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.srv.WaitFor(ctx, cond) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var errs []error
	for n := 0; ; n++ {
		want := map[string]string{KeyAMTPassword: fmt.Sprintf("Pw-%d!", n)}
		if err := st.Put(ctx, path, want); err != nil {
			errs = append(errs, err)
		} else if got, err := st.Get(ctx, path); err != nil {
			errs = append(errs, err)
		} else if got[KeyAMTPassword] != want[KeyAMTPassword] {
			errs = append(errs, fmt.Errorf("read %v after writing %v", got, want))
		}
		select {
		case err := <-done:
			require.NoError(t, err, "condition never held; stats %+v", e.srv.Stats())
			return n + 1, errs
		case <-tick.C:
		}
	}
}
