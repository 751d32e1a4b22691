package e2e

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"

	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/amtsim/rpc"
)

// TestTLSEnforcedActivation activates AMT 19+ devices, which enforce TLS on their host-side ports, through
// dm-manager (issue 12): the agent gets its details from the southbound service, rpc-go runs `activate` and relays
// the engine's TLS session to AMT's port 16993 in tls_data messages, and the device dials the gateway and shows up
// PROVISIONED. One tenant activates in CCM, another in ACM with its uploaded domain; the device API shows the name
// given with rpc-go --name.
func TestTLSEnforcedActivation(t *testing.T) {
	d := startDM(t, "dmm_e2e_activation_tls_test")
	ccmTenant := d.newTenant(t)
	acmTenant := d.newTenant(t)
	pki := certtest.New(t)
	code, body := d.rest(t, http.MethodPost, acmTenant, "amt/admin/domains", userToken(t, acmTenant),
		domainBody("e2e-tls-domain", certtest.Suffix, pki.PFX(t, certtest.Password), certtest.Password))
	require.Equal(t, http.StatusCreated, code, body)
	// The ACM tenant's admin turns KVM and SOL off and IDE-R on, and asks for AMT's TLS configuration (server
	// authentication, non-TLS kept); the CCM tenant keeps EMF's defaults (no TLS mode).
	code, body = d.rest(t, http.MethodPatch, acmTenant, "amt/admin/profiles", userToken(t, acmTenant),
		map[string]any{"profileName": acmTenant + "_acm", "kvmEnabled": false, "solEnabled": false, "iderEnabled": true,
			"tlsMode": 2})
	require.Equal(t, http.StatusOK, code, body)

	t.Run("CCM", func(t *testing.T) {
		t.Parallel()
		dev := newDevice(t, amtsim.Config{TLSEnforced: true, Hostname: "edge-ccm"})
		id := d.createHost(t, ccmTenant, dev.guid, func(h *computev1.HostResource) {
			h.DesiredAmtState = amtProvisioned
			h.AmtControlMode = computev1.AmtControlMode_AMT_CONTROL_MODE_CCM
		}).GetResourceId()
		require.Equal(t, ccmTenant+"_ccm", d.activationDetails(t, ccmTenant, dev.guid).GetProfileName())
		tlsActivated(t, d, dev, ccmTenant, ccmTenant+"_ccm", "Client control mode.", "Already configured")
		require.Equal(t, amtsim.ClientControl, dev.Mode())
		require.Nil(t, dev.State().TLS, "no TLS mode: AMT keeps its own certificate")
		require.Equal(t, amtsim.Redirection{KVM: true, SOL: true, IDER: false, Listener: true}, dev.State().Redirection,
			"EMF's default features")
		d.connect(dev)
		dev.waitLink(t, true)
		d.watch.waitHost(t, id, "provisioned", amtIs(amtProvisioned, "AMT connected"))
	})
	t.Run("ACM", func(t *testing.T) {
		t.Parallel()
		dev := newDevice(t, amtsim.Config{TLSEnforced: true, DNSSuffix: certtest.Suffix, Hostname: "edge-acm"})
		dev.AddRootHash(amtsim.NewRootHash("dm-manager e2e root", pki.Root.Raw))
		id := acmHost(t, d, acmTenant, dev)
		require.Equal(t, acmTenant+"_acm", d.activationDetails(t, acmTenant, dev.guid).GetProfileName())
		tlsActivated(t, d, dev, acmTenant, acmTenant+"_acm", "Admin control mode.", "Configured")
		require.Equal(t, amtsim.AdminControl, dev.Mode())
		// AMT serves a certificate the gateway CA issued, with TLS on and non-TLS kept for the gateway (16992).
		st := dev.State().TLS
		require.NotNil(t, st)
		require.Equal(t, amtsim.TLSSetting{Enabled: true, AcceptNonSecureConnections: true}, st.Remote)
		require.True(t, st.Local.Enabled)
		issued, err := x509.ParseCertificate(st.Certificate)
		require.NoError(t, err)
		roots := x509.NewCertPool()
		for _, c := range dev.CIRA().Certificates {
			if c.TrustedRoot {
				root, err := x509.ParseCertificate(c.DER)
				require.NoError(t, err)
				roots.AddCert(root)
			}
		}
		_, err = issued.Verify(x509.VerifyOptions{Roots: roots})
		require.NoError(t, err, "issued by the gateway CA AMT trusts for CIRA")
		require.NotEmpty(t, dev.MEBxPassword())
		require.Equal(t, amtsim.Redirection{KVM: false, SOL: false, IDER: true, Listener: true}, dev.State().Redirection,
			"the tenant's features")
		d.connect(dev)
		dev.waitLink(t, true)
		d.watch.waitHost(t, id, "provisioned", amtIs(amtProvisioned, "AMT connected"))
	})
}

// tlsActivated runs the agent's activation of a TLS-enforcing device with a friendly name and checks the status
// rpc-go prints and the device record the API shows.
func tlsActivated(t *testing.T, d *dm, dev *simDevice, tenant, profile, status, tlsStatus string) {
	t.Helper()
	det := d.activationDetails(t, tenant, dev.guid)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	res, err := rpc.Run(ctx, dev.Device, rpc.Config{URL: d.activationURL(), Command: rpc.ActivateCommand(profile, false),
		TenantID: tenant, Password: det.GetActionPassword(), FriendlyName: "till " + dev.guid[:4]})
	require.NoError(t, err)
	answers.add("activation result: " + res.Message)
	d.deviceSecretsSeen(tenant, dev)
	require.True(t, res.OK(), res.Message)
	require.Equal(t, &rpc.StatusObject{Status: status, Network: "Wired Network Configured", CIRAConnection: "Configured",
		TLSConfiguration: tlsStatus}, res.StatusObject)
	require.Zero(t, res.Exchanges, "nothing relayed in plain text")
	require.Positive(t, res.TLSMessages)
	require.Equal(t, 1, res.PortSwitches)

	code, body := d.rest(t, http.MethodGet, tenant, "devices/"+dev.guid, userToken(t, tenant), nil)
	require.Equal(t, http.StatusOK, code, body)
	var rec struct {
		FriendlyName string `json:"friendlyName"`
		Hostname     string `json:"hostname"`
		DeviceInfo   struct {
			FWVersion string `json:"fwVersion"`
		} `json:"deviceInfo"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &rec))
	require.Equal(t, "till "+dev.guid[:4], rec.FriendlyName)
	require.Equal(t, dev.Hostname(), rec.Hostname)
	require.Equal(t, "19.0.5", rec.DeviceInfo.FWVersion)
}

// TestTLSFleets is the done-when check as a test, against the whole of dm-manager with the real Inventory:
// fleets of 20 devices with 100% and 50% of them enforcing TLS (amtsim.NewMixedFleet, what `amtsim -n 20
// -tlsEnforced P` builds), activated concurrently by rpc-go with the tenant's _acm (domain uploaded) or _ccm
// profile (both at 100% and 50%), end with 20 devices in that mode and 20 CIRA tunnels, every host PROVISIONED.
func TestTLSFleets(t *testing.T) {
	d := startDM(t, "dmm_e2e_tls_fleets_test")
	pki := certtest.New(t)
	for _, fc := range []struct {
		profile string
		percent int
		mode    amtsim.ControlMode
	}{{"acm", 100, amtsim.AdminControl}, {"ccm", 100, amtsim.ClientControl}, {"acm", 50, amtsim.AdminControl},
		{"ccm", 50, amtsim.ClientControl}} {
		t.Run(fmt.Sprintf("%s/tlsEnforced=%d", fc.profile, fc.percent), func(t *testing.T) {
			tenant := d.newTenant(t)
			if fc.profile == "acm" {
				code, body := d.rest(t, http.MethodPost, tenant, "amt/admin/domains", userToken(t, tenant),
					domainBody("fleet-domain", certtest.Suffix, pki.PFX(t, certtest.Password), certtest.Password))
				require.Equal(t, http.StatusCreated, code, body)
			}
			fleet, err := amtsim.NewMixedFleet(20, tenant, amtsim.Config{DNSSuffix: certtest.Suffix, Log: zerolog.Nop()},
				fc.percent)
			require.NoError(t, err)
			mode := map[string]computev1.AmtControlMode{"acm": computev1.AmtControlMode_AMT_CONTROL_MODE_ACM,
				"ccm": computev1.AmtControlMode_AMT_CONTROL_MODE_CCM}[fc.profile]
			devs := make([]*simDevice, 0, 20)
			ids := make([]string, 0, 20)
			tls := 0
			for _, a := range fleet.Devices() {
				a.AddRootHash(amtsim.NewRootHash("dm-manager e2e root", pki.Root.Raw))
				if a.TLSEnforced() {
					tls++
				}
				dev := newSimDevice(a)
				devs = append(devs, dev)
				ids = append(ids, d.createHost(t, tenant, dev.guid, func(h *computev1.HostResource) {
					h.DesiredAmtState = amtProvisioned
					h.AmtControlMode = mode
				}).GetResourceId())
			}
			require.Equal(t, 20*fc.percent/100, tls)
			var wg sync.WaitGroup
			errs := make(chan error, len(devs))
			for _, dev := range devs {
				det := d.activationDetails(t, tenant, dev.guid)
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 2*waitLong)
					defer cancel()
					res, err := d.rpcActivate(ctx, dev, tenant, det.GetProfileName(), det.GetActionPassword())
					switch {
					case err != nil:
						errs <- err
					case !res.OK() || dev.Mode() != fc.mode:
						errs <- fmt.Errorf("%s: %s", dev.guid, res.Message)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			for _, dev := range devs {
				d.connect(dev)
			}
			for i, dev := range devs {
				dev.waitLink(t, true)
				d.watch.waitHost(t, ids[i], "provisioned", amtIs(amtProvisioned, "AMT connected"))
			}
		})
	}
}
