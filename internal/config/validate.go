package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// SecretsKeyLen is the size of the embedded backend's sealing key.
const SecretsKeyLen = 32

func (c *Config) validate() error {
	checks := []func() error{
		c.validateListeners,
		c.validateInventory,
		c.validateAuth,
		c.validateReconcile,
		c.validateDatabase,
		c.validateSecrets,
		c.validateAdvertised,
		c.validateReplica,
		c.validateEvents,
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) validateListeners() error {
	for _, l := range []struct{ flag, addr string }{
		{"dmServerAddress", c.DMServerAddress},
		{"ciraAddress", c.CIRAAddress},
		{"activationAddress", c.ActivationAddress},
		{"apiAddress", c.APIAddress},
		{"metricsAddress", c.MetricsAddress},
	} {
		if err := checkHostPort(l.flag, l.addr); err != nil {
			return err
		}
	}
	if c.EnableProfiling && !c.EnableMetrics {
		return fmt.Errorf("-enableProfiling: profiles are served on -metricsAddress; set -enableMetrics too")
	}
	if c.OAMServerAddress != "" {
		return checkHostPort("oamServerAddress", c.OAMServerAddress)
	}
	return nil
}

func (c *Config) validateInventory() error {
	if c.InventoryAddress == "" {
		return fmt.Errorf("-inventoryAddress: must not be empty")
	}
	if c.InsecureGRPC {
		return nil
	}
	// The Inventory client Fatal()s when one of these is missing; fail here with the flag's name instead.
	for _, p := range []struct{ flag, path string }{
		{"caCertPath", c.CACertPath}, {"tlsCertPath", c.TLSCertPath}, {"tlsKeyPath", c.TLSKeyPath},
	} {
		if p.path == "" {
			return fmt.Errorf("-%s: required when -insecureGRPC=false", p.flag)
		}
	}
	return nil
}

func (c *Config) validateAuth() error {
	if c.EnableAuth && c.RBACRules == "" {
		return fmt.Errorf("-rbacRules: required when -enableAuth=true")
	}
	if c.OIDCServerURL != "" {
		if err := checkURL("oidcServerURL", c.OIDCServerURL, "http", "https"); err != nil {
			return err
		}
	}
	if c.TenantManagerURL != "" {
		return checkURL("tenantManagerURL", c.TenantManagerURL, "http", "https")
	}
	return nil
}

func (c *Config) validateReconcile() error {
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"reconcilePeriod", c.ReconcilePeriod},
		{"requestTimeout", c.RequestTimeout},
		{"statusChangeGracePeriod", c.StatusChangeGracePeriod},
		{"softPowerTimeout", c.SoftPowerTimeout},
		{"amtRequestTimeout", c.AMTRequestTimeout},
	} {
		if d.v <= 0 {
			return fmt.Errorf("-%s: must be positive, got %s", d.flag, d.v)
		}
	}
	if c.AMTRequestTimeout > c.RequestTimeout {
		return fmt.Errorf("-amtRequestTimeout (%s) exceeds -requestTimeout (%s): one AMT exchange runs within one "+
			"reconcile; lower -amtRequestTimeout or raise -requestTimeout", c.AMTRequestTimeout, c.RequestTimeout)
	}
	if c.Parallelism < 1 || c.Parallelism > 1000 {
		return fmt.Errorf("-parallelism: must be between 1 and 1000, got %d", c.Parallelism)
	}
	if c.PasswordPolicy != PasswordStatic && c.PasswordPolicy != PasswordDynamic {
		return fmt.Errorf("-passwordPolicy: must be %q or %q, got %q", PasswordStatic, PasswordDynamic, c.PasswordPolicy)
	}
	return nil
}

func (c *Config) validateDatabase() error {
	if c.DatabaseURL == "" {
		return fmt.Errorf("-databaseURL: must not be empty")
	}
	// pgconn's parse error may echo the URL; report a fixed message so a password never reaches the output.
	if _, err := pgconn.ParseConfig(c.DatabaseURL); err != nil {
		return fmt.Errorf("-databaseURL: not a valid Postgres URL (postgres://user:password@host:port/db?sslmode=...) " +
			"or key=value connection string")
	}
	if c.DatabaseConnectRetries < 0 {
		return fmt.Errorf("-databaseConnectRetries: must not be negative, got %d", c.DatabaseConnectRetries)
	}
	if c.DatabaseConnectBackoff <= 0 {
		return fmt.Errorf("-databaseConnectBackoff: must be positive, got %s", c.DatabaseConnectBackoff)
	}
	if c.DatabaseConnectMaxBackoff < c.DatabaseConnectBackoff {
		return fmt.Errorf("-databaseConnectMaxBackoff: must be at least -databaseConnectBackoff (%s), got %s",
			c.DatabaseConnectBackoff, c.DatabaseConnectMaxBackoff)
	}
	return nil
}

func (c *Config) validateSecrets() error {
	switch c.SecretsBackend {
	case SecretsEmbedded:
		return c.validateEmbeddedSecrets()
	case SecretsVault:
		return c.validateVault()
	default:
		return fmt.Errorf("-secretsBackend: must be %q or %q, got %q", SecretsEmbedded, SecretsVault, c.SecretsBackend)
	}
}

func (c *Config) validateEmbeddedSecrets() error {
	switch {
	case c.SecretsKeyFile != "" && c.SecretsKey != "":
		return fmt.Errorf("-secretsKeyFile: set either -secretsKeyFile or DM_SECRETS_KEY, not both")
	case c.SecretsKeyFile != "":
		if _, err := os.Stat(c.SecretsKeyFile); err != nil {
			return fmt.Errorf("-secretsKeyFile: %w", err)
		}
	case c.SecretsKey != "":
		// Never echo the value: it is the key.
		key, err := base64.StdEncoding.DecodeString(c.SecretsKey)
		if err != nil || len(key) != SecretsKeyLen {
			return fmt.Errorf("DM_SECRETS_KEY: must be %d random bytes in standard base64 (e.g. `openssl rand -base64 32`)",
				SecretsKeyLen)
		}
	default:
		return fmt.Errorf("-secretsKeyFile: the embedded secrets backend needs a key: set -secretsKeyFile or " +
			"DM_SECRETS_KEY (32 bytes, base64; e.g. `openssl rand -base64 32`), or use -secretsBackend=vault")
	}
	return nil
}

func (c *Config) validateVault() error {
	if c.VaultAddress == "" {
		return fmt.Errorf("-vaultAddress: required when -secretsBackend=vault (or set VAULT_ADDR)")
	}
	if err := checkURL("vaultAddress", c.VaultAddress, "http", "https"); err != nil {
		return err
	}
	if c.VaultKVMount == "" {
		return fmt.Errorf("-vaultKVMount: must not be empty")
	}
	switch c.VaultAuth {
	case VaultAuthToken:
		if c.VaultToken == "" {
			return fmt.Errorf("-vaultAuth: %q needs the VAULT_TOKEN environment variable", c.VaultAuth)
		}
	case VaultAuthAppRole:
		if c.VaultRoleID == "" || c.VaultSecretID == "" {
			return fmt.Errorf("-vaultAuth: %q needs VAULT_ROLE_ID and VAULT_SECRET_ID environment variables", c.VaultAuth)
		}
	case VaultAuthKubernetes:
		if c.VaultRole == "" {
			return fmt.Errorf("-vaultRole: required when -vaultAuth=kubernetes")
		}
		if c.VaultK8sTokenPath == "" {
			return fmt.Errorf("-vaultK8sTokenPath: required when -vaultAuth=kubernetes")
		}
	default:
		return fmt.Errorf("-vaultAuth: must be %q, %q or %q, got %q",
			VaultAuthToken, VaultAuthAppRole, VaultAuthKubernetes, c.VaultAuth)
	}
	return nil
}

func (c *Config) validateAdvertised() error {
	if _, err := parseCurves(c.CIRAECDSACurves); err != nil {
		return err
	}
	if c.CIRAServerAddress != "" {
		if err := checkHostPort("ciraServerAddress", c.CIRAServerAddress); err != nil {
			return err
		}
	}
	if c.ActivationURL != "" {
		if err := checkURL("activationURL", c.ActivationURL, "ws", "wss"); err != nil {
			return err
		}
	}
	if c.ReplicaAddress != "" {
		return checkHostPort("replicaAddress", c.ReplicaAddress)
	}
	return nil
}

// CIRAECDSACurveNames are the curves of -ciraECDSACurves in its order ("P-256", "P-384"); none for an empty flag.
func (c *Config) CIRAECDSACurveNames() []string {
	names, _ := parseCurves(c.CIRAECDSACurves) // validated by Load
	return names
}

func parseCurves(list string) ([]string, error) {
	var names []string
	for _, f := range strings.Split(list, ",") {
		name := strings.ToUpper(strings.TrimSpace(f))
		switch {
		case name == "":
			continue
		case name != "P-256" && name != "P-384":
			return nil, fmt.Errorf("-ciraECDSACurves: %q is not a curve the gateway offers (P-256, P-384)", strings.TrimSpace(f))
		case slices.Contains(names, name):
			return nil, fmt.Errorf("-ciraECDSACurves: %s is named twice", name)
		}
		names = append(names, name)
	}
	return names, nil
}

func checkHostPort(flagName, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-%s: must be host:port, got %q", flagName, addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("-%s: port must be a number 0-65535, got %q", flagName, port)
	}
	return nil
}

func checkURL(flagName, raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("-%s: must be an absolute URL, got %q", flagName, raw)
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return nil
		}
	}
	return fmt.Errorf("-%s: scheme must be one of %v, got %q", flagName, schemes, u.Scheme)
}

// validateReplicaTLS: the three files together or none, each readable.
func (c *Config) validateReplicaTLS() error {
	files := []struct{ flag, path string }{{"replicaTLSCertFile", c.ReplicaTLSCertFile},
		{"replicaTLSKeyFile", c.ReplicaTLSKeyFile}, {"replicaTLSCAFile", c.ReplicaTLSCAFile}}
	set := 0
	for _, f := range files {
		if f.path != "" {
			set++
		}
	}
	if set == 0 {
		return nil
	}
	for _, f := range files {
		if f.path == "" {
			return fmt.Errorf("-%s: required with the other -replicaTLS* flags (mutual TLS needs the certificate, "+
				"its key and the CA)", f.flag)
		}
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("-%s: %w", f.flag, err)
		}
	}
	return nil
}

// minReplicaSecret matches internal/replica.MinSecretLen (config must not import it).
const minReplicaSecret = 16

func (c *Config) validateReplica() error {
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("-shutdownTimeout: must be positive, got %s", c.ShutdownTimeout)
	}
	if err := c.validateReplicaTLS(); err != nil {
		return err
	}
	if c.ReplicaListenAddress == "" {
		return nil
	}
	if err := checkHostPort("replicaListenAddress", c.ReplicaListenAddress); err != nil {
		return err
	}
	if len(c.ReplicaSecret) < minReplicaSecret {
		return fmt.Errorf("-replicaListenAddress: the replica API is never open: set the environment variable "+
			"DM_REPLICA_SECRET to the same secret of at least %d characters on every replica", minReplicaSecret)
	}
	if c.ReplicaAddress == "" {
		return fmt.Errorf("-replicaAddress: required with -replicaListenAddress: the host:port other replicas " +
			"reach this one at (in Kubernetes the pod IP and the replica port)")
	}
	return nil
}
