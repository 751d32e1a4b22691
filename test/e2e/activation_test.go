package e2e

import (
	"context"
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"

	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
	"github.com/dmrm/dm-manager/internal/southbound/pb"
	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/amtsim/rpc"
)

// TestActivation covers activation through dm-manager (issue "RPS engine" part 3): the node agent asks the
// southbound service for activation details with its token, runs rpc-go's activate over the activation websocket
// with what it got, and the device, now configured for CIRA, dials the gateway and shows up PROVISIONED. One
// tenant activates in CCM, another in ACM with a domain certificate it uploaded through the REST API; the
// negative cases check that nothing is half done and that a retry succeeds.
func TestActivation(t *testing.T) {
	d := startDM(t, "dmm_e2e_activation_test")
	ccmTenant := d.newTenant(t)
	acmTenant := d.newTenant(t)
	pki := certtest.New(t) // leaf intel.example.com: domain suffix example.com
	code, body := d.rest(t, http.MethodPost, acmTenant, "amt/admin/domains", userToken(t, acmTenant),
		domainBody("e2e-domain", certtest.Suffix, pki.PFX(t, certtest.Password), certtest.Password))
	require.Equal(t, http.StatusCreated, code, body)

	t.Run("scenarios", func(t *testing.T) {
		for _, sc := range []struct {
			name string
			run  func(t *testing.T)
		}{
			{"CCM: activate, power off, deactivate", func(t *testing.T) { ccmLifecycle(t, d, ccmTenant) }},
			{"ACM with the tenant's domain", func(t *testing.T) { acmActivation(t, d, acmTenant, pki) }},
			{"domain uploads refused", func(t *testing.T) { domainRefused(t, d, ccmTenant) }},
			{"device suffix matches no domain", func(t *testing.T) { acmSuffixMismatch(t, d, acmTenant, pki) }},
			{"device does not trust the root", func(t *testing.T) { acmUntrustedRoot(t, d, acmTenant) }},
			{"missing profile", func(t *testing.T) { missingProfile(t, d, ccmTenant) }},
			{"device claimed by another tenant", func(t *testing.T) { claimedDevice(t, d, ccmTenant, acmTenant) }},
			{"websocket dropped mid-flow", func(t *testing.T) { droppedWebsocket(t, d, ccmTenant) }},
		} {
			t.Run(sc.name, func(t *testing.T) {
				t.Parallel()
				sc.run(t)
			})
		}
	})
}

func domainBody(name, suffix string, pfx []byte, password string) map[string]string {
	secretSeen("domain PFX password", password)
	secretBlobSeen("domain PFX", base64.StdEncoding.EncodeToString(pfx))
	return map[string]string{
		"profileName": name, "domainSuffix": suffix, "provisioningCert": base64.StdEncoding.EncodeToString(pfx),
		"provisioningCertPassword": password, "provisioningCertStorageFormat": "string",
	}
}

// newDevice is a factory-fresh device (pre-provisioning).
func newDevice(t *testing.T, cfg amtsim.Config) *simDevice {
	t.Helper()
	cfg.Log = zerolog.Nop()
	dev, err := amtsim.New(cfg)
	require.NoError(t, err)
	return newSimDevice(dev)
}

// activationDetails is the node agent's heartbeat call; it requires ACTIVATE.
func (d *dm) activationDetails(t *testing.T, tenant, guid string) *pb.ActivationDetailsResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	det, err := d.sb.RetrieveActivationDetails(agentCtx(ctx, t, tenant), &pb.ActivationRequest{HostId: guid})
	require.NoError(t, err)
	require.Equal(t, pb.OperationType_ACTIVATE, det.GetOperation())
	require.NotEmpty(t, det.GetActionPassword())
	return det
}

// rpcActivate runs `rpc activate --profile <profile>` for dev, as the agent does with AMT_PASSWORD=password.
// What dm-manager answered and the device secrets it stored are recorded for the leak scan.
func (d *dm) rpcActivate(ctx context.Context, dev *simDevice, tenant, profile, password string) (*rpc.Result, error) {
	res, err := rpc.Run(ctx, dev.Device, rpc.Config{
		URL: d.activationURL(), Command: rpc.ActivateCommand(profile, false), TenantID: tenant, Password: password,
		Log: zerolog.Nop(),
	})
	if err != nil {
		answers.add("activation error: " + err.Error())
	}
	if res != nil {
		answers.add("activation result: " + res.Message)
	}
	d.deviceSecretsSeen(tenant, dev)
	return res, err
}

// activated runs the agent's part for a host that wants AMT: details, rpc activate (required to succeed).
func (d *dm) activated(t *testing.T, dev *simDevice, tenant string) *rpc.Result {
	t.Helper()
	det := d.activationDetails(t, tenant, dev.guid)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	res, err := d.rpcActivate(ctx, dev, tenant, det.GetProfileName(), det.GetActionPassword())
	require.NoError(t, err)
	require.True(t, res.OK(), "activation failed: %s", res.Message)
	return res
}

// requireRefused runs the agent's activation and requires an error message containing want, with the device
// untouched.
func (d *dm) requireRefused(t *testing.T, dev *simDevice, tenant, profile, password, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	res, err := d.rpcActivate(ctx, dev, tenant, profile, password)
	require.NoError(t, err)
	require.False(t, res.OK(), "activation should fail")
	require.Contains(t, res.Text(), want)
	require.Equal(t, amtsim.PreProvisioning, dev.Mode(), "a refused activation leaves AMT untouched")
}

func ccmLifecycle(t *testing.T, d *dm, tenant string) {
	dev := newDevice(t, amtsim.Config{})
	id := d.createHost(t, tenant, dev.guid, func(h *computev1.HostResource) {
		h.DesiredAmtState = amtProvisioned
		h.AmtControlMode = computev1.AmtControlMode_AMT_CONTROL_MODE_CCM
	}).GetResourceId()

	det := d.activationDetails(t, tenant, dev.guid)
	require.Equal(t, tenant+"_ccm", det.GetProfileName())
	require.Equal(t, d.tenantPassword(t, tenant), det.GetActionPassword(), "static policy: the tenant's password")
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	_, err := d.sb.ReportActivationResults(agentCtx(ctx, t, tenant),
		&pb.ActivationResultRequest{HostId: dev.guid, ActivationStatus: pb.ActivationStatus_ACTIVATING})
	require.NoError(t, err)
	d.watch.waitHost(t, id, "activation in progress", func(h *computev1.HostResource) bool {
		return h.GetAmtStatus() == "AMT Activation In Progress"
	})

	res, err := d.rpcActivate(ctx, dev, tenant, det.GetProfileName(), det.GetActionPassword())
	require.NoError(t, err)
	require.True(t, res.OK(), res.Message)
	require.Equal(t, "Client control mode.", res.Text())
	require.Equal(t, amtsim.ClientControl, dev.Mode())
	require.True(t, dev.AdminPasswordIs(det.GetActionPassword()), "AMT has the tenant's password")
	require.True(t, dev.CIRA().Configured(), "activation configures CIRA")

	// The device dials the gateway it was configured with, trusting the root it was given.
	d.connect(dev)
	dev.waitLink(t, true)
	d.watch.waitHost(t, id, "provisioned", func(h *computev1.HostResource) bool {
		return amtIs(amtProvisioned, "AMT connected")(h) && powerIs(psOn, "Powered on")(h)
	})
	_, err = d.sb.RetrieveActivationDetails(agentCtx(ctx, t, tenant), &pb.ActivationRequest{HostId: dev.guid})
	require.Equal(t, codes.FailedPrecondition, status.Code(err), "nothing to do once provisioned: %v", err)

	setDesiredPower(t, tenant, id, psOff)
	d.watch.waitHost(t, id, "powered off", powerIs(psOff, "Powered off"))
	// No policy given: Inventory stores IMMEDIATE, so AMT gets the hard off at once.
	require.Equal(t, map[int]int{auditPowerOff: 1}, powerRequests(t, dev), "texts %q", d.watch.powerTexts(id))
	dev.waitState(t, "powered off", poweredOff)

	setDesiredAMT(t, tenant, id, amtUnprovisioned)
	d.watch.waitHost(t, id, "deactivated", amtIs(amtUnprovisioned, "AMT deactivated"))
	dev.waitState(t, "unprovisioned", func(s amtsim.State) bool {
		return s.Mode == amtsim.PreProvisioning && !s.CIRAConfigured
	})
}

// acmDevice is a device whose DNS suffix is the domain's and, when trusted, whose root hash table holds the
// test PKI's root.
func acmDevice(t *testing.T, suffix string, trust *certtest.PKI) *simDevice {
	t.Helper()
	dev := newDevice(t, amtsim.Config{DNSSuffix: suffix})
	if trust != nil {
		dev.AddRootHash(amtsim.NewRootHash("dm-manager e2e root", trust.Root.Raw))
	}
	return dev
}

func acmHost(t *testing.T, d *dm, tenant string, dev *simDevice) string {
	t.Helper()
	return d.createHost(t, tenant, dev.guid, func(h *computev1.HostResource) {
		h.DesiredAmtState = amtProvisioned
		h.AmtControlMode = computev1.AmtControlMode_AMT_CONTROL_MODE_ACM
	}).GetResourceId()
}

func acmActivation(t *testing.T, d *dm, tenant string, pki *certtest.PKI) {
	dev := acmDevice(t, certtest.Suffix, pki)
	id := acmHost(t, d, tenant, dev)
	require.Equal(t, tenant+"_acm", d.activationDetails(t, tenant, dev.guid).GetProfileName())

	res := d.activated(t, dev, tenant)
	require.Equal(t, "Admin control mode.", res.Text())
	require.Equal(t, amtsim.AdminControl, dev.Mode())
	require.NotEmpty(t, dev.MEBxPassword(), "ACM sets a MEBx password")

	d.connect(dev)
	dev.waitLink(t, true)
	d.watch.waitHost(t, id, "provisioned", amtIs(amtProvisioned, "AMT connected"))
}

func domainRefused(t *testing.T, d *dm, tenant string) {
	pki := certtest.New(t)
	expired := &certtest.PKI{RootKey: pki.RootKey, IntermediateKey: pki.IntermediateKey, LeafKey: pki.LeafKey,
		Root: pki.Root, Intermediate: pki.Intermediate}
	leaf := certtest.AMTLeaf(certtest.LeafCN)
	leaf.NotBefore, leaf.NotAfter = time.Now().AddDate(-2, 0, 0), time.Now().AddDate(0, 0, -1)
	expired.Leaf = certtest.Issue(t, leaf, &pki.LeafKey.PublicKey, pki.Intermediate, pki.IntermediateKey)

	token := userToken(t, tenant)
	for _, tc := range []struct {
		name, suffix, password string
		pfx                    []byte
		field, says            string
	}{
		{"suffix mismatch", "example.org", certtest.Password, pki.PFX(t, certtest.Password), "domainSuffix",
			"FQDN not associated with provisioning certificate"},
		{"wrong password", certtest.Suffix, "Wrong-Pa55", pki.PFX(t, certtest.Password), "provisioningCertPassword",
			"Unable to decrypt the provisioning certificate"},
		{"expired", certtest.Suffix, certtest.Password, expired.PFX(t, certtest.Password), "provisioningCert",
			"expired at"},
	} {
		code, body := d.rest(t, http.MethodPost, tenant, "amt/admin/domains", token,
			domainBody("refused-"+tc.field, tc.suffix, tc.pfx, tc.password))
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", tc.name, body)
		require.Contains(t, body, `"`+tc.field+`"`, tc.name)
		require.Contains(t, body, tc.says, tc.name)
		require.NotContains(t, body, tc.password, "%s: the password is never echoed", tc.name)
	}
	code, body := d.rest(t, http.MethodGet, tenant, "amt/admin/domains", token, nil)
	require.Equal(t, http.StatusOK, code, body)
	require.NotContains(t, body, "refused-", "nothing stored")
	code, body = d.rest(t, http.MethodGet, tenant, "amt/admin/domains", userToken(t, "00000000-0000-4000-8000-000000000000"), nil)
	require.Equal(t, http.StatusForbidden, code, "another project's user: %s", body)
}

func acmSuffixMismatch(t *testing.T, d *dm, tenant string, pki *certtest.PKI) {
	dev := acmDevice(t, "corp.example.net", pki)
	acmHost(t, d, tenant, dev)
	det := d.activationDetails(t, tenant, dev.guid)
	d.requireRefused(t, dev, tenant, det.GetProfileName(), det.GetActionPassword(),
		"does not match list of available AMT domain suffixes")
}

func acmUntrustedRoot(t *testing.T, d *dm, tenant string) {
	dev := acmDevice(t, certtest.Suffix, nil)
	acmHost(t, d, tenant, dev)
	det := d.activationDetails(t, tenant, dev.guid)
	d.requireRefused(t, dev, tenant, det.GetProfileName(), det.GetActionPassword(),
		"hash does not exists in list of trusted root certificates")
}

func missingProfile(t *testing.T, d *dm, tenant string) {
	dev := newDevice(t, amtsim.Config{})
	d.createHost(t, tenant, dev.guid, func(h *computev1.HostResource) { h.DesiredAmtState = amtProvisioned })
	d.requireRefused(t, dev, tenant, tenant+"_nosuch", d.tenantPassword(t, tenant),
		tenant+"_nosuch does not match list of available AMT profiles")
}

// claimedDevice: a device activated by one tenant cannot be taken over by another tenant's agent. Inventory
// keeps host UUIDs unique, so the other tenant can only register the machine once the owner's host is gone; the
// owner's device record (waiting for the device to come back and be deactivated) still says whose it is.
func claimedDevice(t *testing.T, d *dm, owner, other string) {
	dev := newDevice(t, amtsim.Config{})
	ownerHost := d.createHost(t, owner, dev.guid, func(h *computev1.HostResource) {
		h.DesiredAmtState = amtProvisioned
		h.AmtControlMode = computev1.AmtControlMode_AMT_CONTROL_MODE_CCM
	})
	d.activated(t, dev, owner)
	ownerPassword := d.tenantPassword(t, owner)
	require.True(t, dev.AdminPasswordIs(ownerPassword))
	d.deleteHost(t, owner, ownerHost.GetResourceId())

	d.createHost(t, other, dev.guid, func(h *computev1.HostResource) {
		h.DesiredAmtState = amtProvisioned
		h.AmtControlMode = computev1.AmtControlMode_AMT_CONTROL_MODE_CCM
	})
	det := d.activationDetails(t, other, dev.guid)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	res, err := d.rpcActivate(ctx, dev, other, det.GetProfileName(), det.GetActionPassword())
	require.NoError(t, err)
	require.False(t, res.OK())
	require.Contains(t, res.Text(), "Device belongs to another tenant")
	require.Equal(t, amtsim.ClientControl, dev.Mode())
	require.True(t, dev.AdminPasswordIs(ownerPassword), "the owner's password is unchanged")
	rec, err := d.st.GetDevice(ctx, dev.guid)
	require.NoError(t, err)
	require.Equal(t, owner, rec.TenantID)
}

// droppedWebsocket: the agent's websocket goes away right after AMT was activated, before CIRA is configured.
// The device is left in a state dm-manager knows (its password stored before AMT got it), and the agent's next
// heartbeat run finishes the job.
func droppedWebsocket(t *testing.T, d *dm, tenant string) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	rpcCtx, drop := context.WithCancel(ctx)
	defer drop()
	dev := newDevice(t, amtsim.Config{OnChange: func(_ *amtsim.Device, s amtsim.State) {
		if s.Mode != amtsim.PreProvisioning {
			drop()
		}
	}})
	id := d.createHost(t, tenant, dev.guid, func(h *computev1.HostResource) {
		h.DesiredAmtState = amtProvisioned
		h.AmtControlMode = computev1.AmtControlMode_AMT_CONTROL_MODE_CCM
	}).GetResourceId()

	det := d.activationDetails(t, tenant, dev.guid)
	_, err := d.rpcActivate(rpcCtx, dev, tenant, det.GetProfileName(), det.GetActionPassword())
	require.Error(t, err, "the session was cut")
	require.Equal(t, amtsim.ClientControl, dev.Mode(), "AMT was activated before the cut")
	require.False(t, dev.CIRA().Configured(), "CIRA was not configured before the cut")
	require.True(t, dev.AdminPasswordIs(det.GetActionPassword()), "AMT has the password dm-manager handed out")

	// The next heartbeat: still not provisioned, so the agent is told to activate again, and that run completes.
	retry := d.activationDetails(t, tenant, dev.guid)
	res, err := d.rpcActivate(ctx, dev, tenant, retry.GetProfileName(), retry.GetActionPassword())
	require.NoError(t, err)
	require.True(t, res.OK(), res.Message)
	require.True(t, dev.CIRA().Configured())
	d.connect(dev)
	dev.waitLink(t, true)
	d.watch.waitHost(t, id, "provisioned", amtIs(amtProvisioned, "AMT connected"))
}
