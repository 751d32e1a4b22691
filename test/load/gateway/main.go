// Command gateway is the gateway process of `make load`: a real CIRA gateway
// on loopback with in-memory backends that waits for the device process to
// connect, measures it and prints one `load:` line on stdout (progress on
// stderr). See scripts/load.sh, which starts it with test/load/devices.
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
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/test/load/gwrun"
)

func main() {
	o := gwrun.Options{Out: os.Stderr}
	var caFile, addrFile, debugAddr, logLevel string
	flag.StringVar(&o.Addr, "addr", "127.0.0.1:0", "CIRA listen address (loopback)")
	flag.StringVar(&o.Name, "name", "cira.load.test", "gateway FQDN the devices are configured with")
	flag.IntVar(&o.N, "n", 10000, "devices expected")
	flag.StringVar(&o.Seed, "seed", "load", "credential seed shared with the device process")
	flag.DurationVar(&o.AuthDelay, "authDelay", 0, "latency added to every login, standing in for database and secret reads")
	flag.DurationVar(&o.Keepalive, "keepalive", 30*time.Second, "keepalive interval sent to AMT (production 30s)")
	flag.DurationVar(&o.IdleWindow, "idleWindow", 60*time.Second, "idle window the keepalive CPU is measured over")
	flag.DurationVar(&o.RampTimeout, "rampTimeout", 90*time.Second, "give up waiting for the fleet this long after the first connection")
	flag.DurationVar(&o.Settle, "settle", 2*time.Second, "pause after the ramp before reading memory")
	flag.Float64Var(&o.Rate, "rate", 200, "WS-Man PowerState queries per second")
	flag.DurationVar(&o.Duration, "duration", 20*time.Second, "length of the WS-Man phase")
	flag.DurationVar(&o.QueryTimeout, "queryTimeout", 10*time.Second, "bound of one PowerState query (MPS REST timeout)")
	flag.StringVar(&o.LatencyFile, "latencyFile", "", "write every WS-Man query (start, latency, cold, failed) here as TSV")
	flag.StringVar(&o.ProfileDir, "profileDir", "", "write heap and CPU profiles here")
	flag.StringVar(&caFile, "caFile", "", "write the gateway CA root (PEM) here once listening")
	flag.StringVar(&addrFile, "addrFile", "", "write the listen address here once listening (after caFile)")
	flag.StringVar(&debugAddr, "debug", "", "loopback address for /debug/pprof; empty: none")
	flag.StringVar(&logLevel, "logLevel", "warn", "gateway log level")
	flag.Parse()
	if err := validate(o, caFile, addrFile); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(2)
	}
	level, err := zerolog.ParseLevel(logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway: -logLevel:", err)
		os.Exit(2)
	}
	o.Log = zerolog.New(os.Stderr).Level(level).With().Timestamp().Logger()
	o.Ready = func(addr string, rootPEM []byte) error {
		if err := writeFile(caFile, rootPEM); err != nil {
			return err
		}
		return writeFile(addrFile, []byte(addr+"\n"))
	}
	if debugAddr != "" {
		ln, err := net.Listen("tcp", debugAddr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gateway: -debug:", err)
			os.Exit(2)
		}
		o.Registry = prometheus.NewRegistry()
		http.Handle("/metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{}))
		fmt.Fprintf(os.Stderr, "gateway: pprof on http://%s/debug/pprof/, metrics on /metrics\n", ln.Addr())
		go func() { _ = http.Serve(ln, nil) }() //nolint:gosec // test harness, loopback only
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := gwrun.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
	fmt.Println(res.Line())
}

func validate(o gwrun.Options, caFile, addrFile string) error {
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", o.Addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-addr %q: the load gateway listens on loopback only", o.Addr)
	}
	switch {
	case o.N < 1:
		return errors.New("-n must be at least 1")
	case o.Keepalive < time.Second || o.IdleWindow < o.Keepalive:
		return errors.New("-keepalive must be at least 1s and -idleWindow at least one keepalive interval")
	case o.Rate <= 0 || o.Duration <= 0:
		return errors.New("-rate and -duration must be positive")
	case caFile == "" || addrFile == "":
		return errors.New("-caFile and -addrFile are required: the device process reads them")
	}
	return nil
}

// writeFile writes atomically, so that a reader polling for the file never
// sees it half written.
func writeFile(path string, b []byte) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
