package amtsim

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/test/amtsim/apfclient"
)

// CIRAOptions adjusts how RunCIRA reaches the gateway.
type CIRAOptions struct {
	// ServerAddr replaces the AddMpServer address (host:port), e.g. to reach a test
	// gateway on loopback; empty: AccessInfo:Port as configured.
	ServerAddr string
	// ServerName replaces the name the gateway certificate's CN must equal; empty: CN when
	// the server was given as an IPv4 address with a CN, else AccessInfo (§1.2).
	ServerName string
	// RootCA (PEM or DER) replaces the roots added with AddTrustedRootCertificate.
	RootCA []byte
	// MinBackoff/MaxBackoff bound reconnect delays (apfclient defaults when zero).
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// LocalAddr is the source IP to dial from (apfclient.Config.LocalAddr); empty: any.
	LocalAddr string
	// OnLink, if set, is told each time the tunnel comes up or goes down.
	OnLink func(up bool)
	Log    zerolog.Logger
}

// linkTarget is what a running CIRA client was built from; a change restarts it.
type linkTarget struct {
	addr, name, user, pass string
	root                   []byte
}

func (t linkTarget) equal(o linkTarget) bool {
	return t.addr == o.addr && t.name == o.name && t.user == o.user && t.pass == o.pass && bytes.Equal(t.root, o.root)
}

// target derives the CIRA client settings from the device configuration; ok is false
// while AMT would not open CIRA (not configured, or its network is cut).
func (d *Device) target(opts CIRAOptions) (linkTarget, bool) {
	d.lock()
	cfg, up := d.ciraLocked(), d.reachable
	d.unlock()
	if !cfg.Configured() || !up {
		return linkTarget{}, false
	}
	s, _, _ := cfg.Periodic()
	t := linkTarget{addr: net.JoinHostPort(s.AccessInfo, strconv.Itoa(s.Port)), name: s.AccessInfo,
		user: s.Username, pass: s.Password, root: opts.RootCA}
	if s.InfoFormat == 3 && s.CN != "" {
		t.name = s.CN
	}
	if t.root == nil {
		roots := cfg.RootPool()
		if len(roots) == 0 {
			return linkTarget{}, false
		}
		t.root = roots[0].Raw
	}
	if opts.ServerAddr != "" {
		t.addr = opts.ServerAddr
	}
	if opts.ServerName != "" {
		t.name = opts.ServerName
	}
	return t, true
}

// RunCIRA keeps the device's CIRA tunnel up whenever CIRA is configured and AMT's
// network is up, serving the gateway's port-16992 channels with ServeConn. A network
// cut drops the link as a pulled cable would; unprovisioning or a new MPS
// configuration ends it. It returns ctx.Err() when ctx ends.
func (d *Device) RunCIRA(ctx context.Context, opts CIRAOptions) error {
	log := opts.Log.With().Str("guid", d.guid.String()).Logger()
	for {
		t, ok := d.target(opts)
		if !ok {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-d.Changed():
				continue
			}
		}
		client, err := apfclient.New(apfclient.Config{
			ServerAddr: t.addr, ServerName: t.name, RootCA: t.root, Username: t.user, Password: t.pass,
			GUID: d.guid.String(), Handler: d.ServeConn, MinBackoff: opts.MinBackoff, MaxBackoff: opts.MaxBackoff,
			LocalAddr: opts.LocalAddr, Logger: opts.Log,
		})
		if err != nil {
			return fmt.Errorf("amtsim %s: CIRA settings unusable: %w", d.guid, err)
		}
		log.Info().Str("server", t.addr).Msg("CIRA configured, connecting")
		if err := d.runLink(ctx, client, t, opts); err != nil {
			return err
		}
	}
}

// runLink runs one CIRA client until its settings change, the network is cut or ctx
// ends (the only case with an error).
func (d *Device) runLink(ctx context.Context, client *apfclient.Client, t linkTarget, opts CIRAOptions) error {
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = client.Run(runCtx) })
	if opts.OnLink != nil {
		wg.Go(func() { reportLink(runCtx, client, opts.OnLink) })
	}
	stop := func() {
		cancel()
		wg.Wait()
	}
	for {
		changed := d.Changed()
		if now, ok := d.target(opts); !ok || !now.equal(t) {
			if !d.Reachable() {
				client.Cut(time.Hour) // no DISCONNECT: the cable is gone
			}
			stop()
			return nil
		}
		select {
		case <-ctx.Done():
			stop()
			return ctx.Err()
		case <-changed:
		}
	}
}

// reportLink forwards the client's connected/disconnected transitions until ctx ends,
// ending with "down".
func reportLink(ctx context.Context, client *apfclient.Client, onLink func(bool)) {
	up := false
	for {
		s, err := client.WaitFor(ctx, func(s apfclient.State) bool { return s.Connected != up })
		if err != nil {
			if up {
				onLink(false)
			}
			return
		}
		up = s.Connected
		onLink(up)
	}
}
