package rig

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFromEnv(t *testing.T) {
	token := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(token, []byte("eyJhbGciOi.x.y\n"), 0o600))
	const tenant = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
	base := map[string]string{
		EnvInventoryAddress: "127.0.0.1:50051", EnvTenant: tenant,
		EnvHostUUIDs: " 6ba7b810-9dad-11d1-80b4-00c04fd430c8 ,6BA7B811-9DAD-11D1-80B4-00C04FD430C8,",
	}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		ok      bool
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "unset: local stack", env: map[string]string{EnvTenant: "x"}},
		{name: "minimal", env: base, ok: true, check: func(t *testing.T, c Config) {
			require.Equal(t, "3f2504e0-4f89-11d3-9a0c-0305e82c3301", c.Tenant)
			require.Equal(t, []string{"6ba7b810-9dad-11d1-80b4-00c04fd430c8", "6ba7b811-9dad-11d1-80b4-00c04fd430c8"}, c.HostUUIDs)
			require.Equal(t, 5*time.Minute, c.PowerTimeout)
			require.Equal(t, 15*time.Minute, c.AMTTimeout)
			require.Equal(t, 30*time.Second, c.SoftPowerTimeout)
			require.Equal(t, time.Minute, c.DisconnectGrace)
			require.False(t, c.AllowDeactivate)
			require.Empty(t, c.CACert)
		}},
		{name: "tls, token file, timings", ok: true, env: with(EnvCACert, "ca.pem", EnvTLSCert, "c.pem", EnvTLSKey, "k.pem",
			EnvJWTFile, token, EnvPowerTimeout, "90s", EnvSoftPowerTimeout, "10s", EnvAllowDeactivate, "1"),
			check: func(t *testing.T, c Config) {
				require.Equal(t, "eyJhbGciOi.x.y", c.Token)
				require.Equal(t, 90*time.Second, c.PowerTimeout)
				require.Equal(t, 10*time.Second, c.SoftPowerTimeout)
				require.True(t, c.AllowDeactivate)
			}},
		{name: "bad tenant", env: with(EnvTenant, "acme"), ok: true, wantErr: "HIP_TENANT must be the project (tenant) UUID"},
		{name: "no hosts", env: with(EnvHostUUIDs, " , "), ok: true, wantErr: "HIP_HOST_UUIDS must list at least one"},
		{name: "bad host", env: with(EnvHostUUIDs, "node-1"), ok: true, wantErr: `"node-1" is not a UUID`},
		{name: "partial tls", env: with(EnvCACert, "ca.pem"), ok: true, wantErr: "set all of HIP_CA_CERT"},
		{name: "missing token file", env: with(EnvJWTFile, "/nonexistent/token"), ok: true, wantErr: "HIP_JWT_FILE"},
		{name: "bad duration", env: with(EnvAMTTimeout, "-1m"), ok: true, wantErr: "HIP_AMT_TIMEOUT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, ok, err := FromEnv(func(k string) string { return tc.env[k] })
			require.Equal(t, tc.ok, ok)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestDescribeAndShort(t *testing.T) {
	require.Equal(t, "nothing (not read)", Describe(nil))
	require.Equal(t, "ON", short("POWER_STATE_ON"))
	require.Equal(t, "IDLE", short("STATUS_INDICATION_IDLE"))
	require.Equal(t, "other", short("other"))
}
