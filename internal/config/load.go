package config

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"os"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"
)

// ErrHelp is returned by Load when -h or -help was asked for.
var ErrHelp = flag.ErrHelp

// Load parses args (without the program name), applies environment overrides read through getenv and the
// optional infra-config file, and validates the result. Errors name the offending flag or variable; the
// caller exits with code 2 on any error (0 on ErrHelp).
func Load(args []string, getenv func(string) string) (*Config, error) {
	c := &Config{}
	r := newFlagSet(c)
	if err := r.fs.Parse(args); err != nil {
		return nil, err
	}
	if r.fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: dm-manager takes only flags", r.fs.Arg(0))
	}
	if c.ShowVersion {
		return c, nil
	}

	explicit := map[string]bool{}
	r.fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	for _, name := range r.order {
		if explicit[name] {
			continue
		}
		env := EnvName(name)
		v := getenv(env)
		if v == "" {
			if alias, ok := emfEnv[name]; ok {
				env, v = alias, getenv(alias)
			}
		}
		if v == "" {
			continue
		}
		if err := r.fs.Set(name, v); err != nil {
			return nil, fmt.Errorf("%s (for -%s): invalid value %q: %w", env, name, v, unwrapFlagErr(err))
		}
	}
	for _, e := range envOnly {
		*e.field(c) = getenv(e.env)
	}

	if err := applyInfraConfig(c); err != nil {
		return nil, err
	}
	if c.ReplicaID == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("-replicaID: not set and the hostname is unknown (%v): set -replicaID", err)
		}
		c.ReplicaID = host
	}

	level, err := zerolog.ParseLevel(r.logLevel)
	if err != nil || r.logLevel == "" || level == zerolog.NoLevel || level == zerolog.Disabled {
		return nil, fmt.Errorf("-globalLogLevel: must be one of trace, debug, info, warn, error, got %q", r.logLevel)
	}
	c.LogLevel = level

	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// unwrapFlagErr drops the flag package's own wrapping so the message does not repeat the value.
func unwrapFlagErr(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

// infraConfig is the subset of EMF's infra-config ConfigMap (mounted as config.yaml) dm-manager reads.
type infraConfig struct {
	OrchMPSHost string `yaml:"orchMPSHost"` // mps.<domain>:4433
	OrchRPSHost string `yaml:"orchRPSHost"` // rps.<domain>:443
}

// applyInfraConfig fills ciraServerAddress and activationURL from the infra-config file when neither a flag
// nor an environment variable set them. A missing file is normal outside EMF.
func applyInfraConfig(c *Config) error {
	if c.InfraConfigPath == "" || (c.CIRAServerAddress != "" && c.ActivationURL != "") {
		return nil
	}
	raw, err := os.ReadFile(c.InfraConfigPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("-infraConfigPath: reading %s: %w", c.InfraConfigPath, err)
	}
	var ic infraConfig
	if err := yaml.Unmarshal(raw, &ic); err != nil {
		return fmt.Errorf("-infraConfigPath: %s is not valid YAML: %w", c.InfraConfigPath, err)
	}
	if c.CIRAServerAddress == "" {
		c.CIRAServerAddress = ic.OrchMPSHost
	}
	if c.ActivationURL == "" && ic.OrchRPSHost != "" {
		c.ActivationURL = activationURLFromRPSHost(ic.OrchRPSHost)
	}
	return nil
}

// activationURLFromRPSHost turns EMF's orchRPSHost (host:port) into the URL rpc-go is given
// (emf-conventions §6: `rpc activate -u wss://<host part of orchRPSHost>/activate`).
func activationURLFromRPSHost(hostPort string) string {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return "wss://" + hostPort + "/activate"
	}
	if port == "443" {
		return "wss://" + host + "/activate"
	}
	return "wss://" + net.JoinHostPort(host, port) + "/activate"
}
