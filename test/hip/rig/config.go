// Package rig drives hosts through Inventory the way an EIM user does (desired power state, power command policy,
// desired AMT state) and waits for what dm-manager reports back (current states and status triplets). It is the
// half of the HIP scenarios that is the same against a real EMF deployment with vPro machines and against the
// local stack; the demo uses it too.
package rig

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Environment variables a HIP rig sets to run the scenarios against a real deployment (README "HIP rigs").
const (
	EnvInventoryAddress = "HIP_INVENTORY_ADDRESS"  // host:port of Inventory's gRPC API (e.g. a port-forward)
	EnvTenant           = "HIP_TENANT"             // project (tenant) UUID the hosts belong to
	EnvHostUUIDs        = "HIP_HOST_UUIDS"         // comma-separated host UUIDs, activated and powered on
	EnvCACert           = "HIP_CA_CERT"            // TLS: CA certificate file; with HIP_TLS_CERT and HIP_TLS_KEY
	EnvTLSCert          = "HIP_TLS_CERT"           // TLS: client certificate file
	EnvTLSKey           = "HIP_TLS_KEY"            // TLS: client key file
	EnvJWT              = "HIP_JWT"                // bearer token for an Inventory running with -enableAuth
	EnvJWTFile          = "HIP_JWT_FILE"           // file holding that token (read at start)
	EnvPowerTimeout     = "HIP_POWER_TIMEOUT"      // how long one power change may take (default 5m)
	EnvAMTTimeout       = "HIP_AMT_TIMEOUT"        // how long activation/deactivation may take (default 15m)
	EnvSoftPowerTimeout = "HIP_SOFT_POWER_TIMEOUT" // the deployment's -softPowerTimeout (default 30s)
	EnvDisconnectGrace  = "HIP_DISCONNECT_GRACE"   // the deployment's -statusChangeGracePeriod (default 1m)
	EnvAllowDeactivate  = "HIP_ALLOW_DEACTIVATION" // "1": run the deactivation scenario (unprovisions AMT)
)

// Config says which Inventory to talk to, as whom, and about which hosts.
type Config struct {
	Address   string
	Tenant    string
	HostUUIDs []string
	// TLS: all three files, or none for a plain connection.
	CACert, TLSCert, TLSKey string
	Token                   string // bearer token; empty: none

	PowerTimeout     time.Duration
	AMTTimeout       time.Duration
	SoftPowerTimeout time.Duration
	DisconnectGrace  time.Duration
	AllowDeactivate  bool
}

// FromEnv reads the HIP_* variables. ok is false when HIP_INVENTORY_ADDRESS is unset (the local stack is used);
// an error names every variable that is wrong.
func FromEnv(getenv func(string) string) (cfg Config, ok bool, err error) {
	cfg.Address = strings.TrimSpace(getenv(EnvInventoryAddress))
	if cfg.Address == "" {
		return cfg, false, nil
	}
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }

	if t, perr := uuid.Parse(strings.TrimSpace(getenv(EnvTenant))); perr != nil {
		bad("%s must be the project (tenant) UUID: %v", EnvTenant, perr)
	} else {
		cfg.Tenant = t.String()
	}
	for _, s := range strings.Split(getenv(EnvHostUUIDs), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		u, perr := uuid.Parse(s)
		if perr != nil {
			bad("%s: %q is not a UUID", EnvHostUUIDs, s)
			continue
		}
		cfg.HostUUIDs = append(cfg.HostUUIDs, u.String())
	}
	if len(cfg.HostUUIDs) == 0 {
		bad("%s must list at least one host UUID (comma-separated)", EnvHostUUIDs)
	}
	cfg.CACert, cfg.TLSCert, cfg.TLSKey = getenv(EnvCACert), getenv(EnvTLSCert), getenv(EnvTLSKey)
	if n := countSet(cfg.CACert, cfg.TLSCert, cfg.TLSKey); n != 0 && n != 3 {
		bad("set all of %s, %s and %s for TLS, or none for a plain connection", EnvCACert, EnvTLSCert, EnvTLSKey)
	}
	cfg.Token = strings.TrimSpace(getenv(EnvJWT))
	if f := getenv(EnvJWTFile); f != "" {
		b, rerr := os.ReadFile(f) //nolint:gosec // the rig operator names the file
		if rerr != nil {
			bad("%s: %v", EnvJWTFile, rerr)
		}
		cfg.Token = strings.TrimSpace(string(b))
	}
	durations := []struct {
		name string
		dst  *time.Duration
		def  time.Duration
	}{
		{EnvPowerTimeout, &cfg.PowerTimeout, 5 * time.Minute},
		{EnvAMTTimeout, &cfg.AMTTimeout, 15 * time.Minute},
		{EnvSoftPowerTimeout, &cfg.SoftPowerTimeout, 30 * time.Second},
		{EnvDisconnectGrace, &cfg.DisconnectGrace, time.Minute},
	}
	for _, d := range durations {
		*d.dst = d.def
		if v := getenv(d.name); v != "" {
			p, perr := time.ParseDuration(v)
			if perr != nil || p <= 0 {
				bad("%s=%q: want a positive duration such as 90s", d.name, v)
				continue
			}
			*d.dst = p
		}
	}
	cfg.AllowDeactivate = getenv(EnvAllowDeactivate) == "1"
	if len(problems) > 0 {
		return cfg, true, errors.New("HIP configuration: " + strings.Join(problems, "; "))
	}
	return cfg, true, nil
}

func countSet(s ...string) int {
	n := 0
	for _, v := range s {
		if v != "" {
			n++
		}
	}
	return n
}
