package config

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

var testKey = base64.StdEncoding.EncodeToString(make([]byte, SecretsKeyLen))

// envMap builds a getenv over a map; the embedded secrets key is present unless overridden.
func envMap(kv ...string) func(string) string {
	m := map[string]string{"DM_SECRETS_KEY": testKey}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	c, err := Load([]string{"-infraConfigPath="}, envMap())
	require.NoError(t, err)
	require.Equal(t, "0.0.0.0:50058", c.DMServerAddress)
	require.Equal(t, "0.0.0.0:4433", c.CIRAAddress)
	require.Equal(t, "0.0.0.0:8080", c.ActivationAddress)
	require.Equal(t, "0.0.0.0:8090", c.APIAddress)
	require.False(t, c.EnableMetrics)
	require.Equal(t, "0.0.0.0:8081", c.MetricsAddress)
	require.Equal(t, "0.0.0.0:2379", c.OAMServerAddress)
	require.Equal(t, "inventory.orch-infra.svc:50051", c.InventoryAddress)
	require.True(t, c.InsecureGRPC)
	require.True(t, c.EnableAuth)
	require.Equal(t, "/rego/authz.rego", c.RBACRules)
	require.Equal(t, time.Minute, c.ReconcilePeriod)
	require.Equal(t, 30*time.Second, c.RequestTimeout)
	require.Equal(t, 10*time.Second, c.AMTRequestTimeout)
	require.Equal(t, time.Minute, c.StatusChangeGracePeriod)
	require.Equal(t, 30*time.Second, c.SoftPowerTimeout)
	require.Equal(t, 10, c.Parallelism)
	require.Equal(t, PasswordStatic, c.PasswordPolicy)
	require.Equal(t, zerolog.InfoLevel, c.LogLevel)
	require.Equal(t, "postgres://admin:pass@127.0.0.1:5432/dmm?sslmode=disable", c.DatabaseURL)
	require.Equal(t, SecretsEmbedded, c.SecretsBackend)
	require.Equal(t, "orch-svc", c.VaultRole)
	require.Equal(t, "secret", c.VaultKVMount)
	require.Equal(t, "dm-manager", c.VaultPathPrefix)
	host, _ := os.Hostname()
	require.Equal(t, host, c.ReplicaID)
	require.Equal(t, []string{"P-256", "P-384"}, c.CIRAECDSACurveNames())

	c, err = Load([]string{"-infraConfigPath=", "-ciraECDSACurves= p-384 "}, envMap())
	require.NoError(t, err)
	require.Equal(t, []string{"P-384"}, c.CIRAECDSACurveNames())
	c, err = Load([]string{"-infraConfigPath=", "-ciraECDSACurves="}, envMap())
	require.NoError(t, err)
	require.Empty(t, c.CIRAECDSACurveNames())
}

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  []string
		get  func(*Config) any
		want any
	}{
		{"env overrides default", nil, []string{"DM_INVENTORY_ADDRESS", "inv:1"},
			func(c *Config) any { return c.InventoryAddress }, "inv:1"},
		{"flag overrides env", []string{"-inventoryAddress=flag:2"}, []string{"DM_INVENTORY_ADDRESS", "inv:1"},
			func(c *Config) any { return c.InventoryAddress }, "flag:2"},
		{"bool env", nil, []string{"DM_INSECURE_GRPC", "false", "DM_CA_CERT_PATH", "a", "DM_TLS_CERT_PATH", "b",
			"DM_TLS_KEY_PATH", "c"}, func(c *Config) any { return c.InsecureGRPC }, false},
		{"EMF OIDC env", nil, []string{"OIDC_SERVER_URL", "http://kc/realms/master"},
			func(c *Config) any { return c.OIDCServerURL }, "http://kc/realms/master"},
		{"DM_ OIDC wins over EMF", nil, []string{"OIDC_SERVER_URL", "http://a", "DM_OIDC_SERVER_URL", "http://b"},
			func(c *Config) any { return c.OIDCServerURL }, "http://b"},
		{"VAULT_ADDR", []string{"-secretsBackend=vault", "-vaultAuth=token"},
			[]string{"VAULT_ADDR", "http://vault:8200", "VAULT_TOKEN", "t"},
			func(c *Config) any { return c.VaultAddress }, "http://vault:8200"},
		{"duration env", nil, []string{"DM_SOFT_POWER_TIMEOUT", "5s"},
			func(c *Config) any { return c.SoftPowerTimeout }, 5 * time.Second},
		{"log level", []string{"-globalLogLevel=debug"}, nil,
			func(c *Config) any { return c.LogLevel }, zerolog.DebugLevel},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(append([]string{"-infraConfigPath="}, tc.args...), envMap(tc.env...))
			require.NoError(t, err)
			require.Equal(t, tc.want, tc.get(c))
		})
	}
}

func TestErrorsNameTheFlag(t *testing.T) {
	tests := []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"-passwordPolicy=x"}, nil, `-passwordPolicy: must be "static" or "dynamic", got "x"`},
		{[]string{"-nope"}, nil, "flag provided but not defined: -nope"},
		{[]string{"-parallelism=abc"}, nil, "-parallelism"},
		{[]string{"-parallelism=0"}, nil, "-parallelism: must be between 1 and 1000"},
		{nil, []string{"DM_PARALLELISM", "x"}, "DM_PARALLELISM (for -parallelism)"},
		{[]string{"-ciraAddress=4433"}, nil, "-ciraAddress: must be host:port"},
		{[]string{"-apiAddress=:http"}, nil, "-apiAddress: port must be a number"},
		{[]string{"-enableProfiling"}, nil, "-enableProfiling: profiles are served on -metricsAddress; set -enableMetrics too"},
		{[]string{"-insecureGRPC=false"}, nil, "-caCertPath: required when -insecureGRPC=false"},
		{[]string{"-reconcilePeriod=0s"}, nil, "-reconcilePeriod: must be positive"},
		{[]string{"-amtRequestTimeout=0s"}, nil, "-amtRequestTimeout: must be positive"},
		{[]string{"-requestTimeout=5s"}, nil, "-amtRequestTimeout (10s) exceeds -requestTimeout (5s)"},
		{[]string{"-globalLogLevel=loud"}, nil, "-globalLogLevel: must be one of"},
		{[]string{"-databaseURL=postgres://u:secretpw@h:notaport/db"}, nil, "-databaseURL: not a valid Postgres URL"},
		{[]string{"-databaseConnectMaxBackoff=1ms"}, nil, "-databaseConnectMaxBackoff"},
		{[]string{"-secretsBackend=file"}, nil, `-secretsBackend: must be "embedded" or "vault", got "file"`},
		{nil, []string{"DM_SECRETS_KEY", ""}, "-secretsKeyFile: the embedded secrets backend needs a key"},
		{nil, []string{"DM_SECRETS_KEY", "c2hvcnQ="}, "DM_SECRETS_KEY: must be 32 random bytes"},
		{[]string{"-secretsKeyFile=/does/not/exist"}, nil, "-secretsKeyFile: set either"},
		{[]string{"-secretsKeyFile=/does/not/exist"}, []string{"DM_SECRETS_KEY", ""}, "-secretsKeyFile: stat /does/not/exist"},
		{[]string{"-secretsBackend=vault"}, nil, "-vaultAddress: required"},
		{[]string{"-secretsBackend=vault", "-vaultAddress=http://v", "-vaultAuth=token"}, nil, "VAULT_TOKEN"},
		{[]string{"-secretsBackend=vault", "-vaultAddress=http://v", "-vaultAuth=approle"}, nil, "VAULT_ROLE_ID"},
		{[]string{"-secretsBackend=vault", "-vaultAddress=http://v", "-vaultAuth=ldap"}, nil, "-vaultAuth: must be"},
		{[]string{"-activationURL=https://rps/activate"}, nil, "-activationURL: scheme must be one of [ws wss]"},
		{[]string{"-oidcServerURL=keycloak"}, nil, "-oidcServerURL: must be an absolute URL"},
		{[]string{"-tenantManagerURL=ftp://tm"}, nil, "-tenantManagerURL: scheme must be one of [http https]"},
		{[]string{"extra"}, nil, `unexpected argument "extra"`},
		{[]string{"-replicaListenAddress=:9443", "-replicaAddress=10.0.0.1:9443"}, nil,
			"-replicaListenAddress: the replica API is never open: set the environment variable DM_REPLICA_SECRET"},
		{[]string{"-replicaListenAddress=:9443", "-replicaAddress=10.0.0.1:9443"}, []string{"DM_REPLICA_SECRET", "short"},
			"DM_REPLICA_SECRET"},
		{[]string{"-replicaListenAddress=:9443"}, []string{"DM_REPLICA_SECRET", "0123456789abcdef0123"},
			"-replicaAddress: required with -replicaListenAddress"},
		{[]string{"-replicaListenAddress=9443"}, nil, "-replicaListenAddress: must be host:port"},
		{[]string{"-shutdownTimeout=0s"}, nil, "-shutdownTimeout: must be positive"},
		{[]string{"-ciraECDSACurves=P-256,P-521"}, nil, `-ciraECDSACurves: "P-521" is not a curve the gateway offers`},
		{[]string{"-ciraECDSACurves=p-384, P-384"}, nil, "-ciraECDSACurves: P-384 is named twice"},
		{[]string{"-replicaTLSCertFile=/etc/hosts", "-replicaTLSKeyFile=/etc/hosts"}, nil,
			"-replicaTLSCAFile: required with the other -replicaTLS* flags"},
		{[]string{"-replicaTLSCAFile=/etc/hosts"}, nil, "-replicaTLSCertFile: required with the other -replicaTLS* flags"},
		{[]string{"-replicaTLSCertFile=/does/not/exist", "-replicaTLSKeyFile=/etc/hosts", "-replicaTLSCAFile=/etc/hosts"},
			nil, "-replicaTLSCertFile: stat /does/not/exist"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(append(tc.args, tc.env...), " "), func(t *testing.T) {
			_, err := Load(append([]string{"-infraConfigPath="}, tc.args...), envMap(tc.env...))
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.NotContains(t, err.Error(), "secretpw")
		})
	}
}

func TestSecretsKeyFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(f, []byte(testKey), 0o600))
	c, err := Load([]string{"-infraConfigPath=", "-secretsKeyFile=" + f}, envMap("DM_SECRETS_KEY", ""))
	require.NoError(t, err)
	require.Equal(t, f, c.SecretsKeyFile)
}

func TestVersionSkipsValidation(t *testing.T) {
	c, err := Load([]string{"--version", "-passwordPolicy=x"}, envMap("DM_SECRETS_KEY", ""))
	require.NoError(t, err)
	require.True(t, c.ShowVersion)
}

func TestHelp(t *testing.T) {
	_, err := Load([]string{"-h"}, envMap())
	require.ErrorIs(t, err, ErrHelp)
	var b strings.Builder
	Usage(&b)
	require.Contains(t, b.String(), "-passwordPolicy")
}

func TestInfraConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(good, []byte("orchMPSHost: mps.example.org:4433\norchRPSHost: rps.example.org:443\n"+
		"orchDeviceManager: device-manager-node.example.org:443\n"), 0o600))
	odd := filepath.Join(dir, "odd.yaml")
	require.NoError(t, os.WriteFile(odd, []byte("orchRPSHost: rps.example.org:8443\n"), 0o600))
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("orchMPSHost: [\n"), 0o600))

	c, err := Load([]string{"-infraConfigPath=" + good}, envMap())
	require.NoError(t, err)
	require.Equal(t, "mps.example.org:4433", c.CIRAServerAddress)
	require.Equal(t, "wss://rps.example.org/activate", c.ActivationURL)

	c, err = Load([]string{"-infraConfigPath=" + good, "-ciraServerAddress=cira.local:4433"}, envMap())
	require.NoError(t, err)
	require.Equal(t, "cira.local:4433", c.CIRAServerAddress, "flags win over the file")
	require.Equal(t, "wss://rps.example.org/activate", c.ActivationURL)

	c, err = Load([]string{"-infraConfigPath=" + odd}, envMap())
	require.NoError(t, err)
	require.Equal(t, "wss://rps.example.org:8443/activate", c.ActivationURL)

	c, err = Load([]string{"-infraConfigPath=" + filepath.Join(dir, "missing.yaml")}, envMap())
	require.NoError(t, err, "a missing file is normal outside EMF")
	require.Empty(t, c.CIRAServerAddress)

	_, err = Load([]string{"-infraConfigPath=" + bad}, envMap())
	require.ErrorContains(t, err, "-infraConfigPath:")
}

func TestEnvName(t *testing.T) {
	for flagName, env := range map[string]string{
		"inventoryAddress":  "DM_INVENTORY_ADDRESS",
		"dmServerAddress":   "DM_DM_SERVER_ADDRESS",
		"insecureGRPC":      "DM_INSECURE_GRPC",
		"oidcServerURL":     "DM_OIDC_SERVER_URL",
		"databaseURL":       "DM_DATABASE_URL",
		"vaultKVMount":      "DM_VAULT_KV_MOUNT",
		"vaultK8sTokenPath": "DM_VAULT_K8S_TOKEN_PATH",
		"replicaID":         "DM_REPLICA_ID",
		"caCertPath":        "DM_CA_CERT_PATH",
	} {
		require.Equal(t, env, EnvName(flagName), flagName)
	}
}

func TestRedacted(t *testing.T) {
	c, err := Load([]string{"-infraConfigPath=", "-databaseURL=postgres://admin:hunter2@db:5432/dmm?sslmode=disable",
		"-secretsBackend=vault", "-vaultAddress=http://v:8200", "-vaultAuth=approle"},
		envMap("VAULT_ROLE_ID", "role-secret-1", "VAULT_SECRET_ID", "secret-id-2", "DM_SECRETS_KEY", testKey))
	require.NoError(t, err)
	out := c.Redacted()
	for _, secret := range []string{"hunter2", "role-secret-1", "secret-id-2", testKey} {
		require.NotContains(t, out, secret)
	}
	require.Contains(t, out, "databaseURL=postgres://admin:xxxxx@db:5432/dmm?sslmode=disable")
	require.Contains(t, out, "VAULT_SECRET_ID=set")
	require.Contains(t, out, "VAULT_TOKEN=unset")
	require.Contains(t, out, "inventoryAddress=inventory.orch-infra.svc:50051")
	require.Contains(t, out, "globalLogLevel=info")

	for dsn, want := range map[string]string{
		"host=db user=a password=s3cr3t dbname=x":     "host=db user=a password=xxxxx dbname=x",
		"host=db password='s 3' sslpassword=k":        "host=db password=xxxxx sslpassword=xxxxx",
		"postgres://a@db/x?password=s3cr3t&sslmode=d": "postgres://a@db/x?password=xxxxx&sslmode=d",
	} {
		require.Equal(t, want, redactDSN(dsn))
	}
}
