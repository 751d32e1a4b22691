// Package config holds dm-manager's start-up configuration: every flag, its environment override and the
// validation that runs before anything else starts.
//
// Precedence, highest first: command-line flag, DM_<UPPER_SNAKE> environment variable, the EMF environment
// variable where EMF has one (OIDC_SERVER_URL, VAULT_ADDR), the infra-config YAML file (ciraServerAddress and
// activationURL only), the built-in default.
package config

import (
	"time"

	"github.com/rs/zerolog"
)

// PasswordPolicy selects how AMT admin passwords are chosen for a tenant's devices.
type PasswordPolicy string

const (
	// PasswordStatic uses one tenant-wide AMT password (EMF "static").
	PasswordStatic PasswordPolicy = "static"
	// PasswordDynamic generates a random password per device (EMF "dynamic").
	PasswordDynamic PasswordPolicy = "dynamic"
)

// SecretsBackend selects where device and tenant secrets live.
type SecretsBackend string

const (
	// SecretsEmbedded keeps secrets sealed in our own Postgres database under a local key.
	SecretsEmbedded SecretsBackend = "embedded"
	// SecretsVault keeps secrets in Vault KV v2 (EMF deployments).
	SecretsVault SecretsBackend = "vault"
)

// VaultAuth is the Vault login method.
type VaultAuth string

const (
	VaultAuthToken      VaultAuth = "token"
	VaultAuthAppRole    VaultAuth = "approle"
	VaultAuthKubernetes VaultAuth = "kubernetes"
)

// Config is the validated configuration of one dm-manager process.
type Config struct {
	// Listeners.
	DMServerAddress   string // southbound gRPC for the Platform Manageability Agent
	CIRAAddress       string // CIRA gateway TLS/APF listener
	ActivationAddress string // activation websocket for rpc-go
	APIAddress        string // tenant-facing REST API
	EnableMetrics     bool
	MetricsAddress    string // /metrics, served only when EnableMetrics
	EnableProfiling   bool   // Go's /debug/pprof/ on MetricsAddress too
	OAMServerAddress  string // gRPC health; empty disables it

	// Inventory.
	InventoryAddress string
	InsecureGRPC     bool
	CACertPath       string
	TLSCertPath      string
	TLSKeyPath       string

	// Auth.
	EnableAuth    bool
	RBACRules     string
	OIDCServerURL string
	// TenantManagerURL resolves project names in REST paths to project UUIDs (EMF Tenant Manager); empty means
	// a project name is accepted only with an ActiveProjectID header naming its UUID.
	TenantManagerURL string

	// Reconciliation.
	ReconcilePeriod         time.Duration
	RequestTimeout          time.Duration
	AMTRequestTimeout       time.Duration // one WS-Man exchange over CIRA; at most RequestTimeout
	StatusChangeGracePeriod time.Duration // how long a CIRA disconnection is tolerated before it is reported
	SoftPowerTimeout        time.Duration // ORDERED policy: wait this long for a soft action before the hard one
	Parallelism             int
	PasswordPolicy          PasswordPolicy
	LogLevel                zerolog.Level

	// Postgres.
	DatabaseURL               string
	DatabaseConnectRetries    int
	DatabaseConnectBackoff    time.Duration
	DatabaseConnectMaxBackoff time.Duration

	// Secrets.
	SecretsBackend    SecretsBackend
	SecretsKeyFile    string
	SecretsKey        string // DM_SECRETS_KEY only (never a flag, so it stays out of the process list)
	VaultAddress      string
	VaultAuth         VaultAuth
	VaultRole         string
	VaultKVMount      string
	VaultPathPrefix   string
	VaultK8sTokenPath string
	VaultToken        string // VAULT_TOKEN
	VaultRoleID       string // VAULT_ROLE_ID
	VaultSecretID     string // VAULT_SECRET_ID

	// Advertised addresses.
	CIRAServerAddress string // host:port AMT dials (EMF orchMPSHost)
	CIRAECDSACurves   string // ECDSA CIRA server certificates, in order of preference (CIRAECDSACurveNames)
	ActivationURL     string // wss URL rpc-go connects to (from EMF orchRPSHost)
	InfraConfigPath   string

	// Scale-out.
	ReplicaID            string
	ReplicaAddress       string
	ReplicaListenAddress string
	ReplicaSecret        string // DM_REPLICA_SECRET
	// Replica API mutual TLS (all three or none): this replica's certificate and key, the replicas' CA.
	ReplicaTLSCertFile, ReplicaTLSKeyFile, ReplicaTLSCAFile string
	ShutdownTimeout                                         time.Duration

	// Events (internal/events).
	MQTTAddress     string        // empty: no MQTT publishing
	MQTTTopicPrefix string        // first topic level
	EventRetention  time.Duration // audit trail retention
	MQTTUsername    string        // DM_MQTT_USERNAME
	MQTTPassword    string        // DM_MQTT_PASSWORD
	MQTTCACert      string        // DM_MQTT_CA_CERT: PEM file
	MQTTClientCert  string        // DM_MQTT_CLIENT_CERT: PEM file
	MQTTClientKey   string        // DM_MQTT_CLIENT_KEY: PEM file

	// ShowVersion is set by -version; Load skips validation so that --version always works.
	ShowVersion bool
}
