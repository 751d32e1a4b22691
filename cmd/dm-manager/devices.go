package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/internal/config"
	"github.com/dmrm/dm-manager/internal/devices"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
)

// stdin is where `devices import -` reads; tests replace it.
var stdin io.Reader = os.Stdin

const devicesUsage = `Usage: dm-manager devices import [-format csv|json] [flags] FILE|-

Records devices activated elsewhere (HIP rigs, a migration from an existing Device Management Toolkit
deployment) with their CIRA and AMT credentials, so that they can log in to the CIRA gateway and be managed.
FILE is a CSV file with a header line, or a JSON array of objects, with the fields
  guid, tenant, cira_username, cira_password, amt_password      (required)
  mebx_password, control_mode (ccm, the default, or acm)         (optional)
"-" reads standard input. -format defaults to json for a *.json FILE, csv otherwise.
Every row is checked first; any problem imports nothing and is reported with its line.

The database and secrets flags are dm-manager's own (-databaseURL, -secretsBackend, -secretsKeyFile or
DM_SECRETS_KEY, -vault*, with their DM_* environment overrides); see dm-manager -h.
`

// devicesCmd runs `dm-manager devices import ...`.
func devicesCmd(ctx context.Context, args []string, stdout, stderr io.Writer, _ hooks) int {
	if len(args) == 0 || args[0] != "import" {
		fmt.Fprint(stderr, devicesUsage)
		return 2
	}
	format, file, rest, err := parseImportArgs(args[1:])
	if errors.Is(err, config.ErrHelp) {
		fmt.Fprint(stderr, devicesUsage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "dm-manager devices import: %v\nRun `dm-manager devices import -h` for help.\n", err)
		return 2
	}
	cfg, err := config.Load(rest, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "dm-manager devices import: %v\nRun `dm-manager -h` for the flags.\n", err)
		return 2
	}
	log := zerolog.New(stderr).Level(cfg.LogLevel).With().Timestamp().Str("service", "dm-manager").Logger()
	if err := importDevices(ctx, cfg, format, file, stdout, log); err != nil {
		fmt.Fprintf(stderr, "dm-manager devices import: %s: %v\n", file, err)
		return 1
	}
	return 0
}

// parseImportArgs takes -format and FILE (the last argument) out of args; what is left are dm-manager's own
// flags, for config.Load (which also takes "-flag value" pairs).
func parseImportArgs(args []string) (devices.Format, string, []string, error) {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" || a == "--h" {
			return "", "", nil, config.ErrHelp
		}
	}
	if len(args) == 0 || strings.HasPrefix(args[len(args)-1], "-") && args[len(args)-1] != "-" {
		return "", "", nil, errors.New("missing FILE, the last argument (a path, or - for standard input)")
	}
	file, flags := args[len(args)-1], args[:len(args)-1]
	var rest []string
	format := ""
	for i := 0; i < len(flags); i++ {
		name, value, hasValue := strings.Cut(strings.TrimLeft(flags[i], "-"), "=")
		if !strings.HasPrefix(flags[i], "-") || name != "format" {
			rest = append(rest, flags[i])
			continue
		}
		if !hasValue {
			if i+1 == len(flags) {
				return "", "", nil, errors.New("-format needs a value (csv or json) before FILE")
			}
			i++
			value = flags[i]
		}
		format = value
	}
	if format == "" {
		format = string(devices.FormatCSV)
		if strings.EqualFold(filepath.Ext(file), ".json") {
			format = string(devices.FormatJSON)
		}
	}
	f, err := devices.ParseFormat(format)
	if err != nil {
		return "", "", nil, fmt.Errorf("-format: %q is not csv or json", format)
	}
	return f, file, rest, nil
}

func importDevices(ctx context.Context, cfg *config.Config, format devices.Format, file string, stdout io.Writer,
	log zerolog.Logger,
) error {
	in := stdin
	if file != "-" {
		f, err := os.Open(filepath.Clean(file)) //nolint:gosec // the operator names the file to import
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, store.ConnectOptions{
		Retries: cfg.DatabaseConnectRetries, InitialBackoff: cfg.DatabaseConnectBackoff, MaxBackoff: cfg.DatabaseConnectMaxBackoff,
	}, log)
	if err != nil {
		return fmt.Errorf("%w (-databaseURL)", err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	sec, err := secrets.Open(ctx, configSecretsOptions(cfg), st, log)
	if err != nil {
		return err
	}
	defer sec.Close()

	rep, err := devices.NewImporter(st, sec, log).Import(ctx, in, format)
	if errors.Is(err, devices.ErrImportRejected) {
		var b strings.Builder
		fmt.Fprintf(&b, "nothing imported, %d problem(s) to fix:", len(rep.Errors))
		for _, e := range rep.Errors {
			b.WriteString("\n  " + e.Error())
		}
		return errors.New(b.String())
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported %d device(s) from %s: %d new, %d updated\n", rep.Rows, file, rep.Created, rep.Updated)
	if len(rep.TenantsCreated) > 0 {
		fmt.Fprintf(stdout, "recorded %d new tenant(s), to be bootstrapped by the tenant reconciler: %s\n",
			len(rep.TenantsCreated), strings.Join(rep.TenantsCreated, ", "))
	}
	return nil
}

// configSecretsOptions maps the secrets flags to the secrets package's options.
func configSecretsOptions(c *config.Config) secrets.Options {
	return secrets.Options{
		Backend: string(c.SecretsBackend), KeyFile: c.SecretsKeyFile, Key: c.SecretsKey,
		VaultAddress: c.VaultAddress, VaultAuth: string(c.VaultAuth), VaultRole: c.VaultRole,
		VaultKVMount: c.VaultKVMount, VaultPathPrefix: c.VaultPathPrefix, VaultK8sTokenPath: c.VaultK8sTokenPath,
		VaultToken: c.VaultToken, VaultRoleID: c.VaultRoleID, VaultSecretID: c.VaultSecretID,
	}
}
