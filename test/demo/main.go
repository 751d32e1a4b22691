// Command demo tells dm-manager's story end to end against running processes (scripts/demo.sh starts them): the
// real Inventory server, dm-manager, and a fleet of simulated AMT devices it runs in process, each with a
// simulated node agent. As EMF's tenant controller it creates a tenant, waits for dm-manager to bootstrap it, creates
// hosts with vPro enabled, lets the agents activate the devices through dm-manager's activation websocket, then
// changes power states the way a user does and shows the hosts converge. Exit status: 0 when every host reached
// what was asked, 1 otherwise, 2 on bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// options are the command-line flags.
type options struct {
	inventoryAddress string
	inventoryMetrics string
	dmServerAddress  string
	activationURL    string
	dmHealthAddress  string
	databaseURL      string
	hosts            int
	tlsEnforced      int
	heartbeat        time.Duration
	softPowerTimeout time.Duration
	timeout          time.Duration
	logFile          string
	amtsim           string
	amtsimProfile    string
	apiAddress       string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.inventoryAddress, "inventoryAddress", "", "Inventory gRPC address (host:port)")
	fs.StringVar(&o.inventoryMetrics, "inventoryMetrics", "", "Inventory /metrics URL, to count its writes; empty: not counted")
	fs.StringVar(&o.dmServerAddress, "dmServerAddress", "", "dm-manager southbound gRPC address (the node agents' server)")
	fs.StringVar(&o.activationURL, "activationURL", "", "dm-manager activation websocket URL (ws://host:port/activate)")
	fs.StringVar(&o.dmHealthAddress, "dmHealthAddress", "", "dm-manager gRPC health address (-oamServerAddress)")
	fs.StringVar(&o.databaseURL, "databaseURL", "", "dm-manager's Postgres database, read to show the tenant bootstrap")
	fs.IntVar(&o.hosts, "hosts", 20, "number of hosts and simulated devices")
	fs.IntVar(&o.tlsEnforced, "tlsEnforced", 0, "percentage of the devices that enforce TLS like AMT 19+ (0..100)")
	fs.DurationVar(&o.heartbeat, "heartbeat", time.Second, "node agent heartbeat (PMA's default is 10s)")
	fs.DurationVar(&o.softPowerTimeout, "softPowerTimeout", 5*time.Second, "dm-manager's -softPowerTimeout, to explain the hung-OS host")
	fs.DurationVar(&o.timeout, "timeout", 150*time.Second, "give up after this long")
	fs.StringVar(&o.logFile, "logFile", "", "file for the logs of the devices, the agents and Inventory's client library (stdout is diverted to it); empty: warnings on stdout")
	fs.StringVar(&o.amtsim, "amtsim", "", "run this cmd/amtsim binary as the fleet (activation and CIRA only, no power story); empty: machines and node agents in process")
	fs.StringVar(&o.amtsimProfile, "amtsimProfile", "ccm", "with -amtsim: the tenant profile amtsim activates with, ccm or acm (acm uploads a domain first)")
	fs.StringVar(&o.apiAddress, "apiAddress", "", "dm-manager REST API address (host:port), to upload the domain for -amtsimProfile acm")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var missing []string
	for name, v := range map[string]string{"inventoryAddress": o.inventoryAddress, "dmServerAddress": o.dmServerAddress,
		"activationURL": o.activationURL, "dmHealthAddress": o.dmHealthAddress, "databaseURL": o.databaseURL} {
		if v == "" {
			missing = append(missing, "-"+name)
		}
	}
	switch {
	case len(missing) > 0:
		return o, fmt.Errorf("missing %s (scripts/demo.sh sets them all)", strings.Join(sorted(missing), ", "))
	case o.hosts < minHosts:
		return o, fmt.Errorf("-hosts must be at least %d so that every power scenario gets a host", minHosts)
	case o.tlsEnforced < 0 || o.tlsEnforced > 100:
		return o, errors.New("-tlsEnforced is a percentage (0..100)")
	case o.amtsimProfile != "ccm" && o.amtsimProfile != "acm":
		return o, errors.New("-amtsimProfile is ccm or acm")
	case o.amtsim != "" && o.amtsimProfile == "acm" && o.apiAddress == "":
		return o, errors.New("-amtsimProfile acm needs -apiAddress (the domain is uploaded through the REST API)")
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	code := run(ctx, o)
	cancel()
	stop()
	os.Exit(code)
}

func run(ctx context.Context, o options) int {
	story, log := os.Stdout, zerolog.Nop()
	// Inventory's client library logs every call at info through zerolog's global level.
	zerolog.SetGlobalLevel(zerolog.WarnLevel)
	if o.logFile != "" {
		s, lf, err := divertStdout(o.logFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			return 2
		}
		defer lf.Close()
		story, log = s, zerolog.New(lf).With().Timestamp().Logger()
		zerolog.SetGlobalLevel(zerolog.InfoLevel)
	}
	d := &demo{o: o, out: newOutput(story), log: log, start: time.Now()}
	err := d.run(ctx)
	d.close()
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w (the demo gives up after -timeout %s)", err, o.timeout)
		}
		fmt.Fprintf(story, "\nDEMO FAILED: %v\n", err)
		return 1
	}
	return 0
}
