package config

import (
	"flag"
	"io"
	"strings"
	"time"
	"unicode"
)

// emfEnv maps a flag to the environment variable EMF charts already set for it; it is read after DM_<NAME>.
var emfEnv = map[string]string{
	"oidcServerURL": "OIDC_SERVER_URL",
	"vaultAddress":  "VAULT_ADDR",
}

// defaultDoc overrides how a default is shown when the real default is computed at start.
var defaultDoc = map[string]string{
	"replicaID": "(hostname)",
}

// envOnly are settings read only from the environment: they are secrets, and a flag would show them in `ps`.
var envOnly = []struct {
	env, usage string
	field      func(c *Config) *string
}{
	{"DM_SECRETS_KEY", "embedded secrets backend: 32-byte key, base64 (alternative to -secretsKeyFile)",
		func(c *Config) *string { return &c.SecretsKey }},
	{"VAULT_TOKEN", "vault backend, -vaultAuth=token: the Vault token",
		func(c *Config) *string { return &c.VaultToken }},
	{"VAULT_ROLE_ID", "vault backend, -vaultAuth=approle: AppRole role_id",
		func(c *Config) *string { return &c.VaultRoleID }},
	{"VAULT_SECRET_ID", "vault backend, -vaultAuth=approle: AppRole secret_id",
		func(c *Config) *string { return &c.VaultSecretID }},
	{"DM_REPLICA_SECRET", "scale-out: secret shared by all replicas of a deployment, authenticates the replica API " +
		"(required with -replicaListenAddress; at least 16 characters)",
		func(c *Config) *string { return &c.ReplicaSecret }},
	// Events (MQTT): credentials and TLS material of the broker connection.
	{"DM_MQTT_USERNAME", "events: MQTT broker username (with -mqttAddress)",
		func(c *Config) *string { return &c.MQTTUsername }},
	{"DM_MQTT_PASSWORD", "events: MQTT broker password",
		func(c *Config) *string { return &c.MQTTPassword }},
	{"DM_MQTT_CA_CERT", "events: PEM file of the CA that signed the broker's certificate (tls:// -mqttAddress; default: system roots)",
		func(c *Config) *string { return &c.MQTTCACert }},
	{"DM_MQTT_CLIENT_CERT", "events: PEM client certificate file for brokers that require one (with DM_MQTT_CLIENT_KEY)",
		func(c *Config) *string { return &c.MQTTClientCert }},
	{"DM_MQTT_CLIENT_KEY", "events: PEM private key file of DM_MQTT_CLIENT_CERT",
		func(c *Config) *string { return &c.MQTTClientKey }},
}

// flagSet binds every flag to a field of c; order keeps declaration order for help text and README.
type flagSet struct {
	fs       *flag.FlagSet
	order    []string
	logLevel string
}

func newFlagSet(c *Config) *flagSet {
	r := &flagSet{fs: flag.NewFlagSet("dm-manager", flag.ContinueOnError)}
	r.fs.SetOutput(io.Discard)
	s, b, d, n := r.str, r.boolean, r.duration, r.integer

	s(&c.DMServerAddress, "dmServerAddress", "0.0.0.0:50058", "southbound gRPC listen address (Platform Manageability Agent)")
	s(&c.CIRAAddress, "ciraAddress", "0.0.0.0:4433", "CIRA gateway listen address (AMT dials in over TLS/APF)")
	s(&c.ActivationAddress, "activationAddress", "0.0.0.0:8080", "activation websocket listen address (rpc-go)")
	s(&c.APIAddress, "apiAddress", "0.0.0.0:8090", "tenant-facing REST API listen address")
	b(&c.EnableMetrics, "enableMetrics", false, "serve Prometheus metrics on -metricsAddress")
	s(&c.MetricsAddress, "metricsAddress", "0.0.0.0:8081", "metrics listen address (/metrics)")
	b(&c.EnableProfiling, "enableProfiling", false, "also serve Go's runtime profiles (/debug/pprof/) on -metricsAddress (needs -enableMetrics); for diagnosis, keep that port private")
	s(&c.OAMServerAddress, "oamServerAddress", "0.0.0.0:2379", "gRPC health (OAM) listen address; empty disables it")

	s(&c.InventoryAddress, "inventoryAddress", "inventory.orch-infra.svc:50051", "Inventory gRPC address")
	b(&c.InsecureGRPC, "insecureGRPC", true, "connect to Inventory without TLS")
	s(&c.CACertPath, "caCertPath", "", "CA certificate for Inventory TLS (required when -insecureGRPC=false)")
	s(&c.TLSCertPath, "tlsCertPath", "", "client certificate for Inventory TLS (required when -insecureGRPC=false)")
	s(&c.TLSKeyPath, "tlsKeyPath", "", "client key for Inventory TLS (required when -insecureGRPC=false)")

	b(&c.EnableAuth, "enableAuth", true, "verify JWTs (HS* with env SHARED_SECRET_KEY, RS*/PS* from the OIDC server) "+
		"on the southbound gRPC, REST API and activation websocket; false: no token is verified (tests, demo)")
	s(&c.RBACRules, "rbacRules", "/rego/authz.rego", "Rego RBAC policy (data.dmmanager.authz.allow): what a verified token may read, write or do as a "+
		"node agent; the chart mounts the shipped one; a decision is reused for the same input up to 10 s")
	s(&c.OIDCServerURL, "oidcServerURL", "", "OIDC issuer URL for JWT signing keys (EMF env OIDC_SERVER_URL also honoured)")
	s(&c.TenantManagerURL, "tenantManagerURL", "",
		"EMF Tenant Manager base URL resolving project names in REST paths (e.g. http://tenancy-manager.orch-iam:8080); "+
			"empty: a project name needs an ActiveProjectID header")

	d(&c.ReconcilePeriod, "reconcilePeriod", time.Minute, "period of the full reconcile of hosts and tenants")
	d(&c.RequestTimeout, "requestTimeout", 30*time.Second, "budget of one reconcile (all its Inventory and AMT calls), "+
		"one REST request or one activation step; see -amtRequestTimeout for a single AMT exchange")
	d(&c.StatusChangeGracePeriod, "statusChangeGracePeriod", time.Minute,
		"how long a CIRA disconnection is tolerated before the host is reported disconnected")
	d(&c.SoftPowerTimeout, "softPowerTimeout", 30*time.Second,
		"ORDERED power policy: wait this long for a soft off/reset before the hard action")
	n(&c.Parallelism, "parallelism", 10, "reconciler workers per controller")
	s((*string)(&c.PasswordPolicy), "passwordPolicy", string(PasswordStatic),
		"AMT admin password policy: static (one per tenant) or dynamic (one per device)")
	s(&r.logLevel, "globalLogLevel", "info", "log level: trace, debug, info, warn, error")

	s(&c.DatabaseURL, "databaseURL", "postgres://admin:pass@127.0.0.1:5432/dmm?sslmode=disable",
		"Postgres connection URL of dm-manager's own database; the pool holds 16 connections unless the URL sets pool_max_conns")
	n(&c.DatabaseConnectRetries, "databaseConnectRetries", 10, "connection retries to Postgres at start before giving up")
	d(&c.DatabaseConnectBackoff, "databaseConnectBackoff", 500*time.Millisecond,
		"first wait between Postgres connection attempts (doubles each retry)")
	d(&c.DatabaseConnectMaxBackoff, "databaseConnectMaxBackoff", 10*time.Second,
		"longest wait between Postgres connection attempts")

	s((*string)(&c.SecretsBackend), "secretsBackend", string(SecretsEmbedded), "secrets backend: embedded or vault")
	s(&c.SecretsKeyFile, "secretsKeyFile", "", "embedded backend: file holding the 32-byte key, base64 (or env DM_SECRETS_KEY)")
	s(&c.VaultAddress, "vaultAddress", "", "Vault URL (env VAULT_ADDR also honoured)")
	s((*string)(&c.VaultAuth), "vaultAuth", string(VaultAuthKubernetes), "Vault login: token, approle or kubernetes")
	s(&c.VaultRole, "vaultRole", "orch-svc", "Vault Kubernetes auth role")
	s(&c.VaultKVMount, "vaultKVMount", "secret", "Vault KV v2 mount")
	s(&c.VaultPathPrefix, "vaultPathPrefix", "dm-manager", "path prefix of dm-manager's secrets in the KV mount")
	s(&c.VaultK8sTokenPath, "vaultK8sTokenPath", "/var/run/secrets/kubernetes.io/serviceaccount/token",
		"service account token file for Vault Kubernetes auth")

	s(&c.CIRAServerAddress, "ciraServerAddress", "",
		"required: host:port AMT dials for CIRA, put in tenants' CIRA configs and the gateway certificate "+
			"(EMF orchMPSHost, e.g. mps.<domain>:4433)")
	s(&c.CIRAECDSACurves, "ciraECDSACurves", "P-256,P-384", "ECDSA CIRA server certificates, in order of "+
		"preference (P-256, P-384): a device gets the first its TLS hello accepts (AMT 22 accepts only P-384; a P-256 "+
		"signature costs a sixth of a P-384 one), RSA 2048 if none; empty: RSA 2048 to every device, as MPS does")
	s(&c.ActivationURL, "activationURL", "",
		"required: websocket URL rpc-go activates against (e.g. wss://rps.<domain>/activate; EMF orchRPSHost)")
	s(&c.InfraConfigPath, "infraConfigPath", "/etc/infra-config/config.yaml",
		"optional EMF infra-config YAML (orchMPSHost, orchRPSHost); flags win")

	d(&c.AMTRequestTimeout, "amtRequestTimeout", 10*time.Second, "timeout of one WS-Man exchange with a device "+
		"over its CIRA session (one request and AMT's answer); a reconcile makes several within -requestTimeout, "+
		"so a device that stops answering costs this much, not the whole reconcile budget; at most -requestTimeout")

	s(&c.ReplicaID, "replicaID", "", "this replica's id, recorded as owner of its CIRA sessions")
	s(&c.ReplicaAddress, "replicaAddress", "", "internal host:port other replicas use to reach this one")
	s(&c.ReplicaListenAddress, "replicaListenAddress", "",
		"listen address of the replica API that other replicas forward WS-Man work to (needs env DM_REPLICA_SECRET "+
			"and -replicaAddress); empty: single replica, no forwarding")
	s(&c.ReplicaTLSCertFile, "replicaTLSCertFile", "", "replica API mutual TLS: this replica's certificate (PEM), "+
		"issued by -replicaTLSCAFile; set all three -replicaTLS* flags on every replica, or none")
	s(&c.ReplicaTLSKeyFile, "replicaTLSKeyFile", "", "replica API mutual TLS: the private key of -replicaTLSCertFile (PEM)")
	s(&c.ReplicaTLSCAFile, "replicaTLSCAFile", "", "replica API mutual TLS: the CA (PEM) of every replica's "+
		"certificate, dedicated to the replica API (peers are verified by chain, not by name)")
	d(&c.ShutdownTimeout, "shutdownTimeout", 25*time.Second,
		"overall deadline of the graceful stop after SIGTERM (drain, DISCONNECT devices, stop); keep it below "+
			"the pod's terminationGracePeriodSeconds")

	// Events: MQTT and the audit trail (internal/events).
	s(&c.MQTTAddress, "mqttAddress", "",
		"MQTT broker for device and tenant events: host:port or tls://host:port; empty: no MQTT (credentials and TLS "+
			"from DM_MQTT_* environment variables)")
	s(&c.MQTTTopicPrefix, "mqttTopicPrefix", "dm-manager", "first level of event topics: <prefix>/<tenant>/<guid>/<kind>")
	d(&c.EventRetention, "eventRetention", 7*24*time.Hour,
		"how long events are kept in the audit trail (REST /dm/events); older ones are pruned")

	r.fs.BoolVar(&c.ShowVersion, "version", false, "print the version and exit")
	return r
}

func (r *flagSet) str(p *string, name, def, usage string) {
	r.fs.StringVar(p, name, def, usage)
	r.order = append(r.order, name)
}

func (r *flagSet) boolean(p *bool, name string, def bool, usage string) {
	r.fs.BoolVar(p, name, def, usage)
	r.order = append(r.order, name)
}

func (r *flagSet) duration(p *time.Duration, name string, def time.Duration, usage string) {
	r.fs.DurationVar(p, name, def, usage)
	r.order = append(r.order, name)
}

func (r *flagSet) integer(p *int, name string, def int, usage string) {
	r.fs.IntVar(p, name, def, usage)
	r.order = append(r.order, name)
}

// EnvName is the environment override of a flag: DM_ + the flag name in UPPER_SNAKE_CASE
// (dmServerAddress -> DM_DM_SERVER_ADDRESS, insecureGRPC -> DM_INSECURE_GRPC, oidcServerURL -> DM_OIDC_SERVER_URL).
func EnvName(flagName string) string {
	rs := []rune(flagName)
	var b strings.Builder
	b.WriteString("DM_")
	for i, r := range rs {
		if i > 0 && unicode.IsUpper(r) {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// Setting documents one setting for help text and the README.
type Setting struct {
	Flag    string // without the dash; empty for environment-only settings
	Env     string // environment variables, highest precedence first, comma separated
	Default string
	Usage   string
}

// Reference lists every setting in declaration order.
func Reference() []Setting {
	var c Config
	r := newFlagSet(&c)
	out := make([]Setting, 0, len(r.order)+len(envOnly))
	for _, name := range r.order {
		f := r.fs.Lookup(name)
		env := EnvName(name)
		if alias, ok := emfEnv[name]; ok {
			env += ", " + alias
		}
		def := f.DefValue
		if d, ok := defaultDoc[name]; ok {
			def = d
		}
		out = append(out, Setting{Flag: name, Env: env, Default: def, Usage: f.Usage})
	}
	for _, e := range envOnly {
		out = append(out, Setting{Env: e.env, Usage: e.usage})
	}
	return out
}

// Usage writes the command-line help.
func Usage(w io.Writer) {
	var c Config
	r := newFlagSet(&c)
	r.fs.SetOutput(w)
	r.fs.PrintDefaults()
	_, _ = io.WriteString(w, "\nEvery flag can also be set with DM_<UPPER_SNAKE_NAME>, e.g. -inventoryAddress <- DM_INVENTORY_ADDRESS.\n"+
		"Secrets come only from the environment: DM_SECRETS_KEY, VAULT_TOKEN, VAULT_ROLE_ID, VAULT_SECRET_ID, "+
		"DM_MQTT_PASSWORD.\n")
}
