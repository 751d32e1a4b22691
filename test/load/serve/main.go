// Command serve is `make load` (scripts/load.sh): `dm-manager serve` under a fleet of simulated AMT devices,
// measured from outside (see package serverun). Progress goes to stderr; the `load:` line (and one
// `load-replica:` line per replica when there are several) to stdout.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/test/load/serverun"
)

func main() {
	o := serverun.Options{Out: os.Stderr}
	var serveFlags, serveEnv, fleetFlags string
	var timeout time.Duration
	flag.IntVar(&o.N, "n", 10000, "devices")
	flag.IntVar(&o.Replicas, "replicas", 1, "dm-manager serve processes (more than one: behind HAProxy)")
	flag.IntVar(&o.FleetSize, "fleetSize", 10000, "most devices per fleet process")
	flag.IntVar(&o.LBConns, "lbConns", 9000, "most connections per HAProxy process")
	flag.Float64Var(&o.RampRate, "rampRate", 2000, "devices starting to dial per second (all fleet processes)")
	flag.IntVar(&o.MaxDialing, "maxDialing", 500, "devices dialling but not up yet at once (all fleet processes)")
	flag.IntVar(&o.Sources, "sources", 4, "source addresses per fleet process")
	flag.BoolVar(&o.Hosts, "hosts", false, "register a host per device in Inventory (vPro enabled, desired power ON) before the fleet dials")
	flag.DurationVar(&o.RampTimeout, "rampTimeout", 5*time.Minute, "give up waiting for the fleet this long after the first session")
	flag.DurationVar(&o.Settle, "settle", 5*time.Second, "pause between the ramp and the idle window")
	flag.DurationVar(&o.IdleWindow, "idleWindow", 60*time.Second, "idle window the keepalive CPU is measured over")
	flag.Float64Var(&o.Rate, "rate", 1000, "REST requests per second")
	flag.DurationVar(&o.Duration, "duration", 20*time.Second, "length of the REST phase")
	flag.StringVar(&o.Dir, "dir", ".cache/load", "binaries, logs and the import file")
	flag.StringVar(&serveFlags, "serveFlags", "", "extra flags for every replica, space separated")
	flag.StringVar(&serveEnv, "serveEnv", "", "extra environment for every replica, space separated (e.g. GOGC=30)")
	flag.StringVar(&fleetFlags, "fleetFlags", "", "extra flags for every fleet process, space separated")
	flag.BoolVar(&o.Profile, "profile", false, "save CPU (idle window, REST phase) and heap profiles of every replica in -dir")
	flag.DurationVar(&timeout, "timeout", 15*time.Minute, "bound of the whole run")
	flag.Parse()
	// The Inventory client library logs through zerolog's global logger; its lines are noise here (errors reach
	// the harness as errors).
	zerolog.SetGlobalLevel(zerolog.Disabled)
	o.ServeFlags, o.ServeEnv, o.FleetFlags = strings.Fields(serveFlags), strings.Fields(serveEnv), strings.Fields(fleetFlags)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := serverun.Run(ctx, o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "load: %v (logs in %s)\n", err, o.Dir)
		os.Exit(1)
	}
	fmt.Println(res.Line())
	for _, l := range res.ReplicaLines() {
		fmt.Println(l)
	}
}
