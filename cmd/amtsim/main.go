// Command amtsim runs a fleet of simulated Intel AMT devices for HIP rigs, demos and
// load tests: it activates them against an activation server the way rpc-go does,
// keeps their CIRA tunnels to the gateway, and offers a small control API on loopback.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/test/amtsim"
)

// options are the command-line flags.
type options struct {
	n               int
	guidSeed        string
	activationURL   string
	profile         string
	tenant          string
	amtPassword     string
	parallel        int
	dnsSuffix       string
	trustHashes     stringList
	activationCA    string
	insecure        bool
	powerDelay      time.Duration
	osBootDelay     time.Duration
	osShutdownDelay time.Duration
	hungOS          int
	unreachable     int
	tlsEnforced     int
	ciraCA          string
	ciraServer      string
	ciraServerName  string
	control         string
	progress        time.Duration
	exitAfter       bool
	logLevel        string
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("amtsim", flag.ContinueOnError)
	fs.IntVar(&o.n, "n", 1, "number of simulated devices")
	fs.StringVar(&o.guidSeed, "guidSeed", "amtsim", "seed the device GUIDs are derived from (same seed, same GUIDs)")
	fs.StringVar(&o.activationURL, "activationURL", "", "ws:// or wss:// activation URL; empty: no activation")
	fs.StringVar(&o.profile, "profile", "", "profile name sent in \"activate --profile\"")
	fs.StringVar(&o.tenant, "tenant", "", "tenant id sent as tenantId (rpc-go --tenantid)")
	fs.StringVar(&o.amtPassword, "amtPassword", "", "AMT admin password the server sets (static policy); used for re-activation and the import file")
	fs.IntVar(&o.parallel, "parallel", 20, "activations in flight at once")
	fs.StringVar(&o.dnsSuffix, "dnsSuffix", "", "PKI DNS suffix every device reports as fqdn (needed for ACM)")
	fs.Var(&o.trustHashes, "trustHash", "extra trusted root certificate hash (hex SHA-1/256/384); repeatable")
	fs.StringVar(&o.activationCA, "activationCA", "", "PEM file with the CA that signs the wss:// server certificate")
	fs.BoolVar(&o.insecure, "insecure", false, "do not verify the wss:// server certificate (rpc-go --skip-cert-check)")
	fs.DurationVar(&o.powerDelay, "powerDelay", 2*time.Second, "delay of hard power actions")
	fs.DurationVar(&o.osBootDelay, "osBootDelay", 5*time.Second, "time from power-on to a running OS")
	fs.DurationVar(&o.osShutdownDelay, "osShutdownDelay", 3*time.Second, "time the OS takes for graceful actions")
	fs.IntVar(&o.hungOS, "hungOS", 0, "percentage of devices whose OS is hung (ignores graceful power requests)")
	fs.IntVar(&o.unreachable, "unreachable", 0, "percentage of devices whose AMT network is cut at start")
	fs.IntVar(&o.tlsEnforced, "tlsEnforced", 0, "percentage of devices that enforce TLS like AMT 19+ (activated through rpc-go's TLS tunnel)")
	fs.StringVar(&o.ciraCA, "ciraCA", "", "PEM file with the root to trust for CIRA instead of the one AMT was given")
	fs.StringVar(&o.ciraServer, "ciraServer", "", "host:port to dial for CIRA instead of the configured MPS address")
	fs.StringVar(&o.ciraServerName, "ciraServerName", "", "name the CIRA server certificate's common name must equal instead of the configured one")
	fs.StringVar(&o.control, "control", "127.0.0.1:8099", "loopback address of the control API; empty: no control API")
	fs.DurationVar(&o.progress, "progress", time.Second, "progress line interval; 0: none")
	fs.BoolVar(&o.exitAfter, "exitAfterActivation", false, "exit once every activation has ended")
	fs.StringVar(&o.logLevel, "logLevel", "warn", "log level (debug, info, warn, error)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	return o, o.validate()
}

func (o options) validate() error {
	switch {
	case o.n < 1:
		return errors.New("-n must be at least 1")
	case o.parallel < 1:
		return errors.New("-parallel must be at least 1")
	case o.hungOS < 0 || o.hungOS > 100 || o.unreachable < 0 || o.unreachable > 100 || o.tlsEnforced < 0 || o.tlsEnforced > 100:
		return errors.New("-hungOS, -unreachable and -tlsEnforced are percentages (0..100)")
	case o.activationURL != "" && !strings.HasPrefix(o.activationURL, "ws://") && !strings.HasPrefix(o.activationURL, "wss://"):
		return fmt.Errorf("-activationURL %q: want a ws:// or wss:// URL", o.activationURL)
	case o.activationURL != "" && o.profile == "":
		return errors.New("-profile is required with -activationURL")
	}
	if o.control != "" {
		host, _, err := net.SplitHostPort(o.control)
		if err != nil {
			return fmt.Errorf("-control %q: %w", o.control, err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("-control %q: the control API listens on loopback only (127.0.0.0/8)", o.control)
		}
	}
	return nil
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "amtsim:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "amtsim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	level, err := zerolog.ParseLevel(o.logLevel)
	if err != nil {
		return fmt.Errorf("-logLevel %q: %w", o.logLevel, err)
	}
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly}).Level(level).With().Timestamp().Logger()
	r, err := newRunner(ctx, o, log)
	if err != nil {
		return err
	}
	if o.control != "" {
		ln, err := net.Listen("tcp", o.control)
		if err != nil {
			return fmt.Errorf("-control %s: %w", o.control, err)
		}
		go r.serveControl(ctx, ln)
		fmt.Fprintf(os.Stderr, "amtsim: %d devices, control API on http://%s\n", o.n, ln.Addr())
	}
	return r.run(ctx)
}

// dialer is the websocket dialer rpc-go would use, with the flags' TLS settings.
func (o options) dialer() (*websocket.Dialer, error) {
	tlsConf := &tls.Config{InsecureSkipVerify: o.insecure} //nolint:gosec // -insecure mirrors rpc-go --skip-cert-check
	if o.activationCA != "" {
		pem, err := os.ReadFile(o.activationCA)
		if err != nil {
			return nil, fmt.Errorf("-activationCA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-activationCA %s: no PEM certificate found", o.activationCA)
		}
		tlsConf.RootCAs = pool
	}
	return &websocket.Dialer{HandshakeTimeout: 60 * time.Second, TLSClientConfig: tlsConf, Proxy: websocket.DefaultDialer.Proxy}, nil
}

// deviceConfig is the template every device is created from.
func (o options) deviceConfig(log zerolog.Logger) (amtsim.Config, error) {
	cfg := amtsim.Config{
		DNSSuffix: o.dnsSuffix, PowerDelay: o.powerDelay, OSBootDelay: o.osBootDelay,
		OSShutdownDelay: o.osShutdownDelay, Log: log,
	}
	if len(o.trustHashes) > 0 {
		cfg.RootHashes = amtsim.DefaultRootHashes()
		for i, h := range o.trustHashes {
			rh, err := amtsim.ParseRootHash(fmt.Sprintf("extra root %d", i+1), h)
			if err != nil {
				return cfg, fmt.Errorf("-trustHash: %w", err)
			}
			cfg.RootHashes = append(cfg.RootHashes, rh)
		}
	}
	return cfg, nil
}
