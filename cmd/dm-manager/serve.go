package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/open-edge-platform/infra-core/inventory/v2/pkg/client"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"

	dmmanager "github.com/dmrm/dm-manager"
	"github.com/dmrm/dm-manager/internal/config"
	"github.com/dmrm/dm-manager/internal/store"
)

// stopTimeout bounds each step of the graceful stop, so a stuck component cannot keep the pod from exiting.
const stopTimeout = 10 * time.Second

// hooks are the seams of serve; the zero value is production behaviour.
type hooks struct {
	// inventoryDialOptions are added to the Inventory client's dial options (tests dial the in-process
	// Inventory server over bufconn).
	inventoryDialOptions []grpc.DialOption
	// onEvent receives every Inventory event after it is logged; the reconcilers' wiring sets it. It must
	// not block: the client drops events while the channel is full.
	onEvent func(*client.WatchEvents)
	// onReady is called once everything is serving, with the addresses actually bound.
	onReady func(bound)
}

// bound are the listen addresses after binding (useful with port 0).
type bound struct {
	OAM     string
	Metrics string
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer, h hooks) int {
	cfg, err := config.Load(args, os.Getenv)
	switch {
	case errors.Is(err, config.ErrHelp):
		fmt.Fprintln(stderr, "Usage: dm-manager [serve] [flags]")
		config.Usage(stderr)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "dm-manager: %v\nRun `dm-manager -h` for the flags.\n", err)
		return 2
	}
	if cfg.ShowVersion {
		fmt.Fprintln(stdout, dmmanager.Version)
		return 0
	}

	// The level is global so that the Inventory libraries, which log through zerolog too, follow it.
	zerolog.SetGlobalLevel(cfg.LogLevel)
	log := zerolog.New(stderr).With().Timestamp().Str("service", "dm-manager").Logger()
	log.Info().Str("version", dmmanager.Version).Str("config", cfg.Redacted()).Msg("starting")

	a := &app{cfg: cfg, log: log, hooks: h, serveErr: make(chan error, 4)}
	if err := a.start(ctx); err != nil {
		log.Error().Err(err).Msg("dm-manager failed to start")
		a.stop()
		return 1
	}
	code := a.wait(ctx)
	a.stop()
	log.Info().Int("exit_code", code).Msg("stopped")
	return code
}

// app is one running dm-manager. Components append their stop function as they start; stop runs them in
// reverse, so what started last (and may use what started earlier) stops first.
type app struct {
	cfg   *config.Config
	log   zerolog.Logger
	hooks hooks

	store      *store.Store
	streamDone chan struct{} // closed when the Inventory events channel is closed
	serveErr   chan error    // a listener failed while serving
	stops      []func()
}

func (a *app) onStop(f func()) { a.stops = append(a.stops, f) }

func (a *app) start(ctx context.Context) error {
	st, err := store.Open(ctx, a.cfg.DatabaseURL, store.ConnectOptions{
		Retries:        a.cfg.DatabaseConnectRetries,
		InitialBackoff: a.cfg.DatabaseConnectBackoff,
		MaxBackoff:     a.cfg.DatabaseConnectMaxBackoff,
	}, a.log)
	if err != nil {
		return fmt.Errorf("%w (-databaseURL, -databaseConnectRetries)", err)
	}
	a.store = st
	a.onStop(st.Close)
	if err := st.Migrate(ctx); err != nil {
		return err
	}

	var b bound
	health, err := a.startOAM(&b)
	if err != nil {
		return err
	}
	if err := a.startMetrics(&b); err != nil {
		return err
	}
	if err := a.startInventory(); err != nil {
		return err
	}

	health.Resume()
	a.onStop(health.Shutdown) // first thing on stop: report NOT_SERVING
	a.log.Info().Str("oam", b.OAM).Str("metrics", b.Metrics).Msg("dm-manager is ready")
	if a.hooks.onReady != nil {
		a.hooks.onReady(b)
	}
	return nil
}

// wait blocks until a signal (exit 0), the Inventory events stream closing or a listener failing (exit 1).
func (a *app) wait(ctx context.Context) int {
	select {
	case <-ctx.Done():
		a.log.Info().Msg("stop requested")
		return 0
	case <-a.streamDone:
		// EMF convention (emf-conventions §1.2): a closed stream is fatal; the restart registers again.
		a.log.Error().Msg("Inventory event stream closed; exiting so that the pod restarts and registers again")
		return 1
	case err := <-a.serveErr:
		a.log.Error().Err(err).Msg("a listener failed; exiting")
		return 1
	}
}

func (a *app) stop() {
	for i := len(a.stops) - 1; i >= 0; i-- {
		a.stops[i]()
	}
	a.stops = nil
}

// waitFor waits for done up to stopTimeout and logs what did not finish.
func (a *app) waitFor(done <-chan struct{}, what string) {
	select {
	case <-done:
	case <-time.After(stopTimeout):
		a.log.Warn().Str("component", what).Dur("waited", stopTimeout).Msg("did not stop in time; continuing")
	}
}
