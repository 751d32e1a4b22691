// Package devrun is the device side of the load harness: a fleet of amtsim
// devices, activated in-process, that keep CIRA tunnels to the gateway under
// test, dialled at a controlled rate from several loopback source addresses.
package devrun

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/load/creds"
	"github.com/dmrm/dm-manager/test/load/openloop"
)

// Options configures the fleet.
type Options struct {
	N        int
	GUIDSeed string // amtsim.SeededGUID seed
	CredSeed string // creds.For seed, shared with the gateway
	// Gateway is the host:port dialled; GatewayName is the FQDN configured with
	// AddMpServer, which the gateway certificate must carry.
	Gateway     string
	GatewayName string
	RootCAPEM   []byte
	// Sources are the source IPs links are spread over (round robin); empty:
	// the system's choice.
	Sources []string
	// RampRate is how many devices start dialling per second; 0: all at once.
	RampRate float64
	// MaxDialing caps the devices started but not yet up, so that a ramp
	// faster than the gateway can shake hands queues here rather than timing
	// out there; 0: no cap.
	MaxDialing int
	// Parallel is the number of activation workers (default 2).
	Parallel int
	// MinBackoff/MaxBackoff bound the devices' reconnect delays.
	MinBackoff, MaxBackoff time.Duration
	Log                    zerolog.Logger
}

// Fleet is a set of activated devices with CIRA configured.
type Fleet struct {
	opts   Options
	devs   []*amtsim.Device
	up     atomic.Int64
	linked chan struct{} // signalled when a tunnel comes up
}

// Up is the number of tunnels currently up.
func (f *Fleet) Up() int { return int(f.up.Load()) }

// Devices returns the devices in creation order.
func (f *Fleet) Devices() []*amtsim.Device { return f.devs }

// Provision creates the fleet and activates every device in client control
// mode with the gateway as its periodic CIRA server, over WS-Man on the host
// side as rpc-go would (protocol-rps-activation §2.9), so that the devices run
// the simulator's own, unmodified CIRA path.
func Provision(ctx context.Context, opts Options) (*Fleet, error) {
	if opts.Parallel <= 0 {
		opts.Parallel = 2
	}
	b, _ := pem.Decode(opts.RootCAPEM)
	if b == nil {
		return nil, errors.New("devrun: gateway root CA is not PEM")
	}
	if _, err := x509.ParseCertificate(b.Bytes); err != nil {
		return nil, fmt.Errorf("devrun: gateway root CA: %w", err)
	}
	_, portText, err := net.SplitHostPort(opts.Gateway)
	if err != nil {
		return nil, fmt.Errorf("devrun: gateway address %q: %w", opts.Gateway, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("devrun: gateway port %q: %w", portText, err)
	}
	fleet, err := amtsim.NewFleet(opts.N, opts.GUIDSeed, amtsim.Config{Log: zerolog.Nop()})
	if err != nil {
		return nil, err
	}
	f := &Fleet{opts: opts, devs: fleet.Devices(), linked: make(chan struct{}, 1)}
	jobs := make(chan *amtsim.Device)
	errs := make(chan error, opts.Parallel)
	var wg sync.WaitGroup
	for range opts.Parallel {
		wg.Go(func() {
			for d := range jobs {
				if err := activate(ctx, d, opts, b.Bytes, port); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var firstErr error
feed:
	for _, d := range f.devs {
		select {
		case jobs <- d:
		case firstErr = <-errs:
			break feed
		case <-ctx.Done():
			firstErr = ctx.Err()
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr == nil {
		select {
		case firstErr = <-errs:
		default:
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return f, nil
}

// activate runs Setup (CCM) with the LSA account, then adds the root,
// the gateway and a periodic policy rule as admin.
func activate(ctx context.Context, d *amtsim.Device, opts Options, rootDER []byte, port int) error {
	guid := d.GUID().String()
	c := creds.For(opts.CredSeed, guid)
	lsaUser, lsaPass := d.LSA()
	ws, err := wsman.New(wsman.Config{
		Dialer: wsman.DialerFunc(func(context.Context) (net.Conn, error) {
			host, dev := net.Pipe()
			go d.ServeLocal(dev)
			return host, nil
		}),
		Host: "127.0.0.1:16992", Username: lsaUser, Password: lsaPass, Timeout: 30 * time.Second,
	})
	if err != nil {
		return err
	}
	defer ws.Close()
	a := amt.New(ws)
	fail := func(step string, err error) error {
		return fmt.Errorf("devrun: activating %s: %s: %w", guid, step, err)
	}
	if err := a.Setup(ctx, amt.AdminPasswordHash(d.DigestRealm(), c.AMTPassword)); err != nil {
		return fail("Setup", err)
	}
	ws.SetCredentials("admin", c.AMTPassword)
	if _, err := a.AddTrustedRootCertificate(ctx, rootDER); err != nil {
		return fail("AddTrustedRootCertificate", err)
	}
	sap, err := a.AddMpServer(ctx, amt.MPServer{AccessInfo: opts.GatewayName, InfoFormat: amt.MPSInfoFormatFQDN,
		Port: port, AuthMethod: amt.MPSAuthUserPass, Username: c.CIRAUser, Password: c.CIRAPassword})
	if err != nil {
		return fail("AddMpServer", err)
	}
	if _, err := a.AddRemoteAccessPolicyRule(ctx, amt.PolicyRule{Trigger: amt.TriggerPeriodic,
		ExtendedData: amt.PeriodicInterval(60), MpServerName: sap.Selector("Name")}); err != nil {
		return fail("AddRemoteAccessPolicyRule", err)
	}
	if !d.CIRA().Configured() {
		return fail("checking", errors.New("CIRA is not configured after the policy rule was added"))
	}
	return nil
}

// Ramp starts each device's CIRA client, RampRate per second, and keeps them
// running until ctx ends; it then waits for every client to stop.
func (f *Fleet) Ramp(ctx context.Context) {
	var wg sync.WaitGroup
	start := time.Now()
	for i, d := range f.devs {
		if f.opts.RampRate > 0 {
			at := start.Add(time.Duration(float64(i) / f.opts.RampRate * float64(time.Second)))
			_ = openloop.Sleep(ctx, time.Until(at)) // an ended ctx is seen below
		}
		f.waitDialing(ctx, i)
		if ctx.Err() != nil {
			break
		}
		opts := amtsim.CIRAOptions{ServerAddr: f.opts.Gateway, MinBackoff: f.opts.MinBackoff,
			MaxBackoff: f.opts.MaxBackoff, Log: f.opts.Log, OnLink: f.onLink}
		if len(f.opts.Sources) > 0 {
			opts.LocalAddr = f.opts.Sources[i%len(f.opts.Sources)]
		}
		wg.Go(func() { _ = d.RunCIRA(ctx, opts) })
	}
	wg.Wait()
}

// waitDialing waits until fewer than MaxDialing of the started devices are
// not up. Devices whose link drops count as dialling again.
func (f *Fleet) waitDialing(ctx context.Context, started int) {
	if f.opts.MaxDialing <= 0 {
		return
	}
	recheck := time.NewTicker(50 * time.Millisecond)
	defer recheck.Stop()
	for started-f.Up() >= f.opts.MaxDialing {
		select {
		case <-ctx.Done():
			return
		case <-f.linked:
		case <-recheck.C:
		}
	}
}

func (f *Fleet) onLink(up bool) {
	if !up {
		f.up.Add(-1)
		return
	}
	f.up.Add(1)
	select {
	case f.linked <- struct{}{}:
	default:
	}
}

// Report writes "devices: tunnels up N/M" every interval until ctx ends,
// and the process CPU time spent once every tunnel is up.
func (f *Fleet) Report(ctx context.Context, w io.Writer, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	cpu0 := cpuTime()
	last, all := -1, false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n := f.Up()
			if n != last {
				fmt.Fprintf(w, "devices: tunnels up %d/%d\n", n, len(f.devs))
				last = n
			}
			if n == len(f.devs) && !all {
				all = true
				fmt.Fprintf(w, "devices: all %d tunnels up; device process cpu %.1fs since the ramp began\n",
					n, (cpuTime() - cpu0).Seconds())
			}
		}
	}
}

// cpuTime is the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
