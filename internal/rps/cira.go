package rps

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/google/uuid"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/internal/store"
)

// CIRA policy values (§2.9 steps 8–9): a periodic rule reconnecting every 25 s and a user-initiated rule whose
// tunnel lives 300 s.
const (
	periodicSeconds         = 25
	userInitiatedTunnelLife = 300
	sapSystemName           = "Intel(r) AMT"
)

// configureCIRA removes whatever CIRA configuration the device has (§2.6, CIRA part) and points it at our gateway
// (§2.9): our root CA, the device's CIRA credentials, periodic and user-initiated rules applied to the gateway,
// the user-initiated connection service, and an environment detection domain nobody uses, so AMT always dials.
// Errors carry RPS's CIRAConnection texts.
func (o *op) configureCIRA(ctx context.Context, t store.Tenant, ds deviceSecrets) error {
	host, portText, err := net.SplitHostPort(t.CIRAServerAddress)
	port, perr := strconv.Atoi(portText)
	if err != nil || perr != nil || host == "" || port <= 0 || port > 65535 {
		return fmt.Errorf("tenant %s has no usable CIRA gateway address (%q); the tenant must be set up with the "+
			"gateway's host:port", o.tenant, t.CIRAServerAddress)
	}
	root, err := base64.StdEncoding.DecodeString(t.CIRARootCertDERB64)
	if err != nil || len(root) == 0 {
		return fmt.Errorf("tenant %s has no CIRA gateway root certificate; the tenant must be set up first", o.tenant)
	}
	if err := o.unconfigureCIRA(ctx); err != nil {
		return err
	}
	if err := o.step(ctx, "cira_root", func(ctx context.Context) error {
		_, err := o.amt.AddTrustedRootCertificate(ctx, root)
		return err
	}); err != nil {
		return wrap("Failed to add trusted root certificate", err)
	}
	sap, err := o.addMPS(ctx, host, port, ds)
	if err != nil {
		return err
	}
	rules := []amt.PolicyRule{
		{Trigger: amt.TriggerPeriodic, ExtendedData: amt.PeriodicInterval(periodicSeconds), MpServerName: sap},
		{Trigger: amt.TriggerUserInitiated, TunnelLifeTime: userInitiatedTunnelLife, MpServerName: sap},
	}
	for _, r := range rules {
		if err := o.step(ctx, "policy_rule", func(ctx context.Context) error {
			_, err := o.amt.AddRemoteAccessPolicyRule(ctx, r)
			return err
		}); err != nil {
			return wrap("Failed to add remote policy access rule", err)
		}
	}
	if err := o.applyRulesToMPS(ctx, sap); err != nil {
		return err
	}
	if err := o.step(ctx, "user_initiated", func(ctx context.Context) error {
		return o.amt.SetUserInitiatedConnection(ctx, amt.UserInitiatedBIOSAndOS)
	}); err != nil {
		return wrap("Failed to set user initiated connection service", err)
	}
	return o.environmentDetection(ctx)
}

func wrap(text string, err error) error {
	var to *stepTimeoutError
	if errors.As(err, &to) || errors.Is(err, errPeerClosed) {
		return fmt.Errorf("%s: %w", text, err)
	}
	return fmt.Errorf("%s (%s): %w", text, explain(err), err)
}

// addMPS registers our gateway with the device's CIRA credentials (§2.9 step 6) and returns the server's SAP name.
func (o *op) addMPS(ctx context.Context, host string, port int, ds deviceSecrets) (string, error) {
	s := amt.MPServer{
		AccessInfo: host, InfoFormat: amt.MPSInfoFormatFQDN, Port: port, AuthMethod: amt.MPSAuthUserPass,
		Username: ds.CIRAUsername, Password: ds.CIRAPassword,
	}
	if ip := net.ParseIP(host); ip != nil {
		s.InfoFormat = amt.MPSInfoFormatIPv6
		if ip.To4() != nil {
			s.InfoFormat, s.CN = amt.MPSInfoFormatIPv4, host // AMT matches the server certificate's CN (§3.2)
		}
	}
	var name string
	err := o.step(ctx, "add_mps", func(ctx context.Context) error {
		epr, err := o.amt.AddMpServer(ctx, s)
		name = epr.Selector("Name")
		return err
	})
	if err != nil {
		return "", wrap("Failed to add mps", err)
	}
	if name != "" {
		return name, nil
	}
	err = o.step(ctx, "add_mps", func(ctx context.Context) error {
		saps, err := o.amt.ManagementPresenceRemoteSAPs(ctx)
		for _, sap := range saps {
			if sap.AccessInfo == host {
				name = sap.Name
			}
		}
		return err
	})
	if err != nil || name == "" {
		return "", wrap("Failed to enumerate Management Presence Remote SAP", errors.Join(err, errors.New("gateway not listed")))
	}
	return name, nil
}

// applyRulesToMPS makes every rule apply inside and outside the enterprise, first in order (§2.9 steps 10–11).
func (o *op) applyRulesToMPS(ctx context.Context, sap string) error {
	var links []amt.PolicyAppliesToMPS
	if err := o.step(ctx, "applies_to_mps", func(ctx context.Context) error {
		var err error
		links, err = o.amt.PolicyAppliesToMPS(ctx)
		return err
	}); err != nil {
		return wrap("Failed to enumerate remote access policy rule", err)
	}
	server := wsman.EPR{Address: wsman.AddressAnonymous, ResourceURI: wsman.AMT("AMT_ManagementPresenceRemoteSAP"),
		Selectors: []wsman.Selector{
			{Name: "CreationClassName", Value: "AMT_ManagementPresenceRemoteSAP"}, {Name: "Name", Value: sap},
			{Name: "SystemCreationClassName", Value: "CIM_ComputerSystem"}, {Name: "SystemName", Value: sapSystemName},
		}}
	for _, l := range links {
		l.ManagedElement, l.MpsType, l.OrderOfAccess = server, amt.MPSTypeBoth, 0
		if l.PolicySet.Address == "" {
			l.PolicySet.Address = wsman.AddressAnonymous
		}
		if err := o.step(ctx, "applies_to_mps", func(ctx context.Context) error {
			return o.amt.PutPolicyAppliesToMPS(ctx, l)
		}); err != nil {
			return wrap("Failed to put AMT_RemoteAccessPolicyAppliesToMPS", err)
		}
	}
	return nil
}

// environmentDetection writes a detection domain no network uses (§2.9 step 13).
func (o *op) environmentDetection(ctx context.Context) error {
	domain := o.e.cfg.CIRADetectionDomain
	if domain == "" {
		domain = uuid.NewString() + ".com"
	}
	err := o.step(ctx, "environment_detection", func(ctx context.Context) error {
		d, err := o.amt.EnvironmentDetection(ctx)
		if err != nil {
			return err
		}
		d.DetectionStrings = []string{domain}
		_, err = o.amt.PutEnvironmentDetection(ctx, d)
		return err
	})
	if err != nil {
		return wrap("Failed to set environment detection", err)
	}
	return nil
}

// unconfigureCIRA deletes the policy rules, management presence servers and trusted roots the device has (§2.6
// steps 5, 6 and 9). Like RPS it carries on past failures (a rule that does not exist answers with a fault); only
// the end of the session stops it. Certificates that are not trusted roots are left alone: they may serve the
// device's own TLS, which dm-manager does not manage.
func (o *op) unconfigureCIRA(ctx context.Context) error {
	tolerate := func(what string, err error) error {
		if over := sessionOver(ctx); over != nil {
			return over
		}
		if err != nil {
			o.log.Debug().Err(err).Str("what", what).Msg("unconfiguration step failed; continuing")
		}
		return nil
	}
	for _, rule := range []string{"User Initiated", "Alert", "Periodic"} {
		err := o.step(ctx, "unconfigure", func(ctx context.Context) error {
			return o.amt.DeleteRemoteAccessPolicyRule(ctx, rule)
		})
		if err := tolerate("delete policy rule "+rule, err); err != nil {
			return err
		}
	}
	var saps []amt.ManagementPresenceRemoteSAP
	err := o.step(ctx, "unconfigure", func(ctx context.Context) error {
		var err error
		saps, err = o.amt.ManagementPresenceRemoteSAPs(ctx)
		return err
	})
	if err := tolerate("enumerate management presence servers", err); err != nil {
		return err
	}
	for _, s := range saps {
		err := o.step(ctx, "unconfigure", func(ctx context.Context) error {
			return o.amt.DeleteManagementPresenceRemoteSAP(ctx, s.Name)
		})
		if err := tolerate("delete management presence server", err); err != nil {
			return err
		}
	}
	var certs []amt.PublicKeyCertificate
	err = o.step(ctx, "unconfigure", func(ctx context.Context) error {
		var err error
		certs, err = o.amt.PublicKeyCertificates(ctx)
		return err
	})
	if err := tolerate("enumerate certificates", err); err != nil {
		return err
	}
	for _, c := range certs {
		if !c.TrustedRootCertificate {
			continue
		}
		err := o.step(ctx, "unconfigure", func(ctx context.Context) error {
			return o.amt.DeletePublicKeyCertificate(ctx, c.InstanceID)
		})
		if err := tolerate("delete trusted root", err); err != nil {
			return err
		}
	}
	return nil
}
