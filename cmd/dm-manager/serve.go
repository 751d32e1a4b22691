package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/rs/zerolog"

	dmmanager "github.com/dmrm/dm-manager"
	"github.com/dmrm/dm-manager/internal/app"
	"github.com/dmrm/dm-manager/internal/config"
)

// hooks are the seams of serve (pre-bound listeners, the Inventory dialer, the ready callback); the zero value
// is production behaviour. serve sets Log itself.
type hooks = app.Options

// serve runs the manager: config -> app.Run -> exit code (0 stopped on request, 1 failed, 2 bad configuration).
func serve(ctx context.Context, args []string, stdout, stderr io.Writer, h hooks) int {
	cfg, err := config.Load(args, os.Getenv)
	switch {
	case errors.Is(err, config.ErrHelp):
		fmt.Fprintln(stderr, "Usage: dm-manager [serve] [flags]")
		config.Usage(stderr)
		return 0
	case err != nil:
		return usageError(stderr, err)
	}
	if cfg.ShowVersion {
		fmt.Fprintln(stdout, dmmanager.Version)
		return 0
	}

	// The level is global so that the Inventory libraries, which log through zerolog too, follow it.
	zerolog.SetGlobalLevel(cfg.LogLevel)
	log := zerolog.New(stderr).With().Timestamp().Str("service", "dm-manager").Logger()
	log.Info().Str("version", dmmanager.Version).Str("config", cfg.Redacted()).Msg("starting")

	h.Log = log
	err = app.Run(ctx, cfg, h)
	var cerr *app.ConfigError
	switch {
	case errors.As(err, &cerr):
		return usageError(stderr, err)
	case err != nil:
		log.Error().Err(err).Msg("dm-manager failed")
		return 1
	}
	log.Info().Msg("stopped")
	return 0
}

func usageError(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "dm-manager: %v\nRun `dm-manager -h` for the flags.\n", err)
	return 2
}
