package rps

import (
	"context"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/store"
)

const statusWired = "Wired Network Configured"

// wiredPort enumerates the port settings and returns the wired one, nil when the device has none.
func (o *op) wiredPort(ctx context.Context) (*amt.EthernetPortSettings, error) {
	var ports []amt.EthernetPortSettings
	if err := o.step(ctx, "ethernet_ports", func(ctx context.Context) error {
		var err error
		ports, err = o.amt.EthernetPortSettings(ctx)
		return err
	}); err != nil {
		return nil, err
	}
	for i := range ports {
		if ports[i].Wired() {
			return &ports[i], nil
		}
	}
	return nil, nil
}

// configureNetwork is §2.7 for the wired port with DHCP, the only network EMF profiles describe: AMT's network
// interface, shared FQDN and RMCP ping on, then DHCP with IP sync. A TLS-enforcing device skips the port Put (AMT 19
// stops answering after it, §2.7 step 3). Like RPS it never fails the activation; the result is the Network status.
func (o *op) configureNetwork(ctx context.Context) string {
	const failed = "Failed to update amt general settings on device"
	gs := o.gs
	if !gs.SharedFQDN || gs.AMTNetworkEnabled != 1 || !gs.RmcpPingResponseEnabled {
		gs.SharedFQDN, gs.AMTNetworkEnabled, gs.RmcpPingResponseEnabled = true, 1, true
		if err := o.step(ctx, "put_general_settings", func(ctx context.Context) error {
			_, err := o.amt.PutGeneralSettings(ctx, gs)
			return err
		}); err != nil {
			return failed + " (" + explain(err) + ")"
		}
	}
	if o.p.tunnel() {
		return statusWired
	}
	port, err := o.wiredPort(ctx)
	switch {
	case err != nil:
		return "Failed to read ethernet port settings (" + explain(err) + ")"
	case port == nil, port.DHCPEnabled && port.IpSyncEnabled && !port.SharedStaticIp:
		return statusWired
	}
	port.DHCPEnabled, port.IpSyncEnabled, port.SharedStaticIp = true, true, false
	if err := o.step(ctx, "put_ethernet", func(ctx context.Context) error {
		_, err := o.amt.PutEthernetPortSettings(ctx, *port)
		return err
	}); err != nil {
		return "Failed to put to ethernet port settings (" + explain(err) + ")"
	}
	return statusWired
}

// configureFeatures is §2.8: KVM, SOL and IDER as the tenant set them on the profile (store.DefaultFeatures, EMF's
// values, until it does), the redirection listener on when any is, and the profile's user consent (ACM only may
// lower it). Failures are returned as text, never fail the activation.
func (o *op) configureFeatures(ctx context.Context, mode store.ControlMode) string {
	var (
		redir amt.RedirectionService
		kvm   amt.KVMRedirectionSAP
		optIn amt.OptInService
	)
	if err := o.step(ctx, "features_read", func(ctx context.Context) error {
		var err error
		if redir, err = o.amt.RedirectionService(ctx); err != nil {
			return err
		}
		if kvm, err = o.amt.KVMRedirectionSAP(ctx); err != nil {
			return err
		}
		optIn, err = o.amt.OptInService(ctx)
		return err
	}); err != nil {
		return "Failed to get AMT redirection service (" + explain(err) + ")"
	}
	want := o.prof.Features
	listener := want.SOL || want.IDER || want.KVM
	if redir.SOL() != want.SOL || redir.IDER() != want.IDER || redir.ListenerEnabled != listener {
		if err := o.step(ctx, "redirection", func(ctx context.Context) error {
			return o.amt.SetRedirectionState(ctx, amt.RedirectionState(want.SOL, want.IDER))
		}); err != nil {
			return "Failed to set redirection service (" + explain(err) + ")"
		}
	}
	if kvm.Enabled() != want.KVM {
		if err := o.step(ctx, "kvm", func(ctx context.Context) error { return o.amt.SetKVM(ctx, want.KVM) }); err != nil {
			return "Failed to set kvm redirection sap (" + explain(err) + ")"
		}
	}
	if redir.ListenerEnabled != listener {
		redir.ListenerEnabled = listener
		if err := o.step(ctx, "put_redirection", func(ctx context.Context) error {
			return o.amt.PutRedirectionService(ctx, redir)
		}); err != nil {
			return "Failed to put redirection service (" + explain(err) + ")"
		}
	}
	consent := optInFor(o.prof.UserConsent)
	if mode != store.ControlModeACM {
		consent = amt.OptInAll // client control mode always asks the user (§2.8)
	}
	if optIn.OptInRequired != consent {
		optIn.OptInRequired = consent
		if err := o.step(ctx, "put_opt_in", func(ctx context.Context) error {
			return o.amt.PutOptInService(ctx, optIn)
		}); err != nil {
			return "Failed to put ips opt in service (" + explain(err) + ")"
		}
	}
	return ""
}

// optInFor maps the profile's user consent to OptInRequired (§2.8 step 5; unset means All).
func optInFor(c store.UserConsent) uint32 {
	switch c {
	case store.ConsentNone:
		return amt.OptInNone
	case store.ConsentKVM:
		return amt.OptInKVM
	}
	return amt.OptInAll
}
