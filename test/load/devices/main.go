// Command devices is the device process of `make load`: N amtsim devices,
// activated in-process, that dial the load gateway over CIRA at a controlled
// rate from several loopback source addresses and stay connected until
// SIGTERM. See scripts/load.sh.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" //nolint:gosec // loopback-only profiling endpoint of a test harness
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/test/load/devrun"
)

func main() {
	o := devrun.Options{}
	var caFile, logLevel, debugAddr string
	var sources int
	var sourceNet string
	flag.IntVar(&o.N, "n", 10000, "number of devices")
	flag.StringVar(&o.GUIDSeed, "guidSeed", "load", "seed of the device GUIDs")
	flag.StringVar(&o.CredSeed, "seed", "load", "credential seed shared with the gateway process")
	flag.StringVar(&o.Gateway, "gateway", "", "gateway host:port to dial (loopback)")
	flag.StringVar(&o.GatewayName, "name", "cira.load.test", "gateway FQDN configured with AddMpServer")
	flag.StringVar(&caFile, "caFile", "", "gateway CA root (PEM)")
	flag.IntVar(&sources, "sources", 4, "spread links over this many source addresses <sourceNet>.1, <sourceNet>.2, …; 0: system's choice")
	flag.StringVar(&sourceNet, "sourceNet", "127.0.1", "first three octets of the source addresses (loopback)")
	flag.Float64Var(&o.RampRate, "rampRate", 1000, "devices starting to dial per second; 0: all at once")
	flag.IntVar(&o.MaxDialing, "maxDialing", 500, "devices dialling but not yet up at once; 0: no cap")
	flag.IntVar(&o.Parallel, "parallel", 2, "activation workers")
	flag.DurationVar(&o.MinBackoff, "minBackoff", time.Second, "minimum reconnect delay")
	flag.DurationVar(&o.MaxBackoff, "maxBackoff", 10*time.Second, "maximum reconnect delay")
	flag.StringVar(&logLevel, "logLevel", "error", "device log level")
	flag.StringVar(&debugAddr, "debug", "", "loopback address for /debug/pprof; empty: none")
	flag.Parse()
	if debugAddr != "" {
		ln, err := net.Listen("tcp", debugAddr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "devices: -debug:", err)
			os.Exit(2)
		}
		go func() { _ = http.Serve(ln, nil) }() //nolint:gosec // test harness, loopback only
	}
	if err := run(o, caFile, sourceNet, sources, logLevel); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "devices:", err)
		os.Exit(1)
	}
}

func run(o devrun.Options, caFile, sourceNet string, sources int, logLevel string) error {
	host, _, err := net.SplitHostPort(o.Gateway)
	if err != nil {
		return fmt.Errorf("-gateway %q: %w", o.Gateway, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-gateway %q: the load test stays on loopback", o.Gateway)
	}
	if sources < 0 || sources > 254 {
		return errors.New("-sources must be 0..254")
	}
	for i := range sources {
		src := fmt.Sprintf("%s.%d", sourceNet, i+1)
		if ip := net.ParseIP(src); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("-sourceNet %q: source %s is not a loopback address", sourceNet, src)
		}
		o.Sources = append(o.Sources, src)
	}
	level, err := zerolog.ParseLevel(logLevel)
	if err != nil {
		return fmt.Errorf("-logLevel: %w", err)
	}
	o.Log = zerolog.New(os.Stderr).Level(level).With().Timestamp().Logger()
	if o.RootCAPEM, err = os.ReadFile(caFile); err != nil { //nolint:gosec // G304: the file the gateway process wrote
		return fmt.Errorf("-caFile: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	t0 := time.Now()
	fleet, err := devrun.Provision(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "devices: %d devices activated with CIRA configured in %.1fs; dialling %s at up to %.0f/s, at most %d at once, from %d source addresses\n",
		o.N, time.Since(t0).Seconds(), o.Gateway, o.RampRate, o.MaxDialing, len(o.Sources))
	go fleet.Report(ctx, os.Stderr, time.Second)
	fleet.Ramp(ctx)
	return ctx.Err()
}
