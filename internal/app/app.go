// Package app wires dm-manager's parts into one running program: the store, the secrets, the CIRA gateway and its
// CA, the Inventory client, the tenant and host reconcilers, the southbound gRPC server, the activation websocket,
// the REST API, metrics and health. cmd/dm-manager calls Run; tests and the demo call it in-process with
// pre-bound listeners and an in-process Inventory.
//
// Parts start in dependency order and stop in reverse, so nothing is stopped while something started later still
// uses it: the reconcilers and servers that call Inventory are stopped before the Inventory client closes, and
// the gateway says DISCONNECT to every device only after nothing opens channels any more.
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"

	"github.com/dmrm/dm-manager/internal/config"
)

// Options are the seams of Run; the zero value is production behaviour.
type Options struct {
	// InventoryDialOptions are added to the Inventory client's dial options (tests dial the in-process
	// Inventory over bufconn: config Address "bufconn" plus test/invtest.DialOptions()).
	InventoryDialOptions []grpc.DialOption
	// Listeners are pre-bound listeners (tests bind 127.0.0.1:0 and learn the ports); a nil one is bound from
	// its flag. Run closes them all.
	Listeners Listeners
	// Clock replaces time.Now in the reconcilers, the activation engine and the API.
	Clock func() time.Time
	// ActivationPostSetupDelay replaces the activation engine's wait after AMT Setup before the new admin
	// credentials are used (0: the engine's default of 12s, which real AMT needs; negative: none, for amtsim).
	ActivationPostSetupDelay time.Duration
	// ActivationTLSRolloverDelay replaces the wait for AMT 19+'s TLS rollover after Setup (0: the engine's 15s;
	// negative: none).
	ActivationTLSRolloverDelay time.Duration
	// Log receives every log line; the zero value discards them.
	Log zerolog.Logger
	// OnReady is called once, when every part is serving and health says SERVING; it must not block.
	OnReady func(Ready)
}

// Listeners holds one listener per server; see Options.Listeners.
type Listeners struct {
	DMServer   net.Listener // -dmServerAddress: southbound gRPC (node agents)
	CIRA       net.Listener // -ciraAddress: CIRA gateway (plain TCP; TLS is done by the gateway)
	Activation net.Listener // -activationAddress: activation websocket (rpc-go)
	API        net.Listener // -apiAddress: REST API
	Metrics    net.Listener // -metricsAddress: used only with -enableMetrics
	OAM        net.Listener // -oamServerAddress: gRPC health; used only when the flag is not empty
	Replica    net.Listener // -replicaListenAddress: replica API; used only when the flag is not empty
}

// Ready describes the running program.
type Ready struct {
	// Bound addresses (host:port); Metrics and OAM are empty when those servers are off.
	DMServer, CIRA, Activation, API, Metrics, OAM, Replica string
	// GatewayRootCAPEM is the CIRA gateway's root certificate: AMT (and amtsim) must trust it.
	GatewayRootCAPEM []byte
	// GatewayNames are the names on the gateway's server certificate; the first is the host of
	// -ciraServerAddress, which devices are configured to dial.
	GatewayNames []string
}

// ConfigError is a configuration the program cannot run with; Flag names the flag to fix. cmd exits 2 on it.
type ConfigError struct {
	Flag string
	Msg  string
}

func (e *ConfigError) Error() string { return "-" + e.Flag + ": " + e.Msg }

// Run starts dm-manager and serves until ctx ends (returns nil after a graceful stop), the Inventory event
// stream closes or a server fails (returns the error after stopping everything). An error during start is
// returned after whatever had started is stopped.
func Run(ctx context.Context, cfg *config.Config, opts Options) error {
	if err := checkAdvertised(cfg); err != nil {
		opts.Listeners.closeAll()
		return err
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	a := &app{cfg: cfg, opts: opts, log: opts.Log, failed: make(chan error, 8)}
	defer a.stop()
	if err := a.start(ctx); err != nil {
		if ctx.Err() != nil {
			a.log.Info().Err(err).Msg("stop requested while starting")
			return nil
		}
		return err
	}
	return a.wait(ctx)
}

// checkAdvertised requires the addresses put into AMT: devices are told to dial -ciraServerAddress, and rpc-go is
// run against -activationURL; without them no device could ever be configured.
func checkAdvertised(cfg *config.Config) error {
	if cfg.CIRAServerAddress == "" {
		return &ConfigError{Flag: "ciraServerAddress", Msg: "required: the host:port AMT devices dial for CIRA " +
			"(e.g. mps.<domain>:4433; EMF orchMPSHost, also read from -infraConfigPath); it goes into every " +
			"tenant's CIRA configuration and the gateway's certificate"}
	}
	if cfg.ActivationURL == "" {
		return &ConfigError{Flag: "activationURL", Msg: "required: the websocket URL rpc-go activates AMT against " +
			"(e.g. wss://rps.<domain>/activate; EMF orchRPSHost, also read from -infraConfigPath)"}
	}
	return nil
}

// app is one running dm-manager. Parts register their stop function as they start.
type app struct {
	cfg    *config.Config
	opts   Options
	log    zerolog.Logger
	failed chan error // a part failed while running
	stops  []stopStep
	// stopBy is the deadline of the whole stop (-shutdownTimeout from its start); zero while running.
	stopBy time.Time
	parts
}

type stopStep struct {
	name string
	fn   func()
}

func (a *app) onStop(name string, fn func()) { a.stops = append(a.stops, stopStep{name, fn}) }

// fail reports a part's failure without blocking: the first failures are enough to decide to exit.
func (a *app) fail(err error) {
	select {
	case a.failed <- err:
	default:
	}
}

func (a *app) start(ctx context.Context) error {
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"listeners", a.bind},
		{"auth", a.startAuth},
		{"health and metrics", a.startOAMAndMetrics},
		{"store", a.startStore},
		{"secrets", a.startSecrets},
		{"replica client", a.startReplicaClient},
		{"gateway", a.startGateway},
		{"replica", a.startReplica},
		{"inventory", a.startInventory},
		{"reconcilers", a.startReconcilers},
		{"southbound", a.startSouthbound},
		{"activation", a.startActivation},
		{"api", a.startAPI},
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("starting %s: %w", s.name, err)
		}
		if err := s.fn(ctx); err != nil {
			return err
		}
	}
	a.setServing()
	ready := a.ready()
	a.log.Info().Str("cira", ready.CIRA).Str("southbound", ready.DMServer).Str("activation", ready.Activation).
		Str("api", ready.API).Str("metrics", ready.Metrics).Str("oam", ready.OAM).
		Str("cira_server_address", a.cfg.CIRAServerAddress).Str("activation_url", a.cfg.ActivationURL).
		Msg("dm-manager is ready")
	if a.opts.OnReady != nil {
		a.opts.OnReady(ready)
	}
	return nil
}

// wait blocks until ctx ends (nil) or a part fails (its error).
func (a *app) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		a.log.Info().Msg("stop requested")
		return nil
	case err := <-a.failed:
		return err
	}
}

// stop runs the stop functions in reverse start order within ONE deadline, -shutdownTimeout, so the steps cannot
// add up past the pod's grace period: a step still running when the deadline passes is left behind (the process
// exits after Run returns), and the steps after it are started without waiting for them.
func (a *app) stop() {
	timeout := a.cfg.ShutdownTimeout
	if timeout <= 0 {
		timeout = 25 * time.Second
	}
	a.stopBy = time.Now().Add(timeout)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	late := false
	for i := len(a.stops) - 1; i >= 0; i-- {
		s := a.stops[i]
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.fn()
		}()
		if late {
			continue
		}
		select {
		case <-done:
			a.log.Debug().Str("part", s.name).Msg("stopped")
		case <-deadline.C:
			late = true
			a.log.Warn().Str("part", s.name).Dur("shutdown_timeout", timeout).
				Msg("stop deadline (-shutdownTimeout) passed; leaving the remaining parts to the process exit")
		}
	}
	a.stops = nil
}

// stopLeft is the time left of the stop's deadline, for a step that waits on something (a graceful server stop)
// and must leave the rest of the budget to the steps after it: at most half of what is left.
func (a *app) stopLeft() time.Duration {
	if a.stopBy.IsZero() {
		return time.Second
	}
	return max(0, time.Until(a.stopBy)/2)
}

// errServe wraps a server's unexpected end.
func errServe(what, addr string, err error) error {
	if err == nil {
		err = errors.New("stopped unexpectedly")
	}
	return fmt.Errorf("%s on %s: %w", what, addr, err)
}
