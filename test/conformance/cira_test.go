package conformance

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
)

const sapName = "Intel(r) AMT:Management Presence Server 0"

// TestCIRAConfiguration runs RPS's CIRA machine (§2.9) and its unconfiguration (§2.6 steps 5, 6, 9, 10) with
// every operation read back, both through the client and from the simulator's own state.
func TestCIRAConfiguration(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)
	c := r.admin(false)

	// Step 3: trusted root for the gateway's TLS server certificate.
	mpsRoot := certtest.Issue(t, certtest.CA("conformance MPS root"), &certtest.Key(t, 3).PublicKey, nil, certtest.Key(t, 3))
	certID, err := c.AddTrustedRootCertificate(ctx, mpsRoot.Raw)
	require.NoError(t, err)
	require.NotEmpty(t, certID)
	certs, err := c.PublicKeyCertificates(ctx)
	require.NoError(t, err)
	require.Len(t, certs, 1)
	require.Equal(t, certID, certs[0].InstanceID)
	require.True(t, certs[0].TrustedRootCertificate, "AMT's TrustedRootCertficate spelling decodes")
	require.Equal(t, mpsRoot.Subject.String(), certs[0].Subject)

	// Step 6: the gateway itself.
	sap, err := c.AddMpServer(ctx, amt.MPServer{
		AccessInfo: "mps.example.com", InfoFormat: amt.MPSInfoFormatFQDN, Port: 4433,
		AuthMethod: amt.MPSAuthUserPass, Username: "ciraUser1", Password: "C1ra&<Pass>",
	})
	require.NoError(t, err)
	require.Equal(t, sapName, sap.Selector("Name"))
	saps, err := c.ManagementPresenceRemoteSAPs(ctx)
	require.NoError(t, err)
	require.Len(t, saps, 1)
	require.Equal(t, amt.ManagementPresenceRemoteSAP{
		AccessInfo: "mps.example.com", CreationClassName: "AMT_ManagementPresenceRemoteSAP",
		ElementName: "Intel(r) AMT:Management Presence Server", InfoFormat: 201, Name: sapName, Port: 4433,
		SystemCreationClassName: "CIM_ComputerSystem", SystemName: "Intel(r) AMT",
	}, saps[0])

	// Steps 8 and 9: periodic (every 25 s, AAAAAAAAABk=) and user-initiated rules.
	periodic, err := c.AddRemoteAccessPolicyRule(ctx, amt.PolicyRule{
		Trigger: amt.TriggerPeriodic, ExtendedData: amt.PeriodicInterval(25), MpServerName: sapName,
	})
	require.NoError(t, err)
	require.Equal(t, "Periodic", periodic.Selector("PolicyRuleName"))
	user, err := c.AddRemoteAccessPolicyRule(ctx, amt.PolicyRule{
		Trigger: amt.TriggerUserInitiated, TunnelLifeTime: 300, MpServerName: sapName,
	})
	require.NoError(t, err)
	require.Equal(t, "User Initiated", user.Selector("PolicyRuleName"))

	// Steps 10 and 11: every rule applies to the server inside and outside the enterprise.
	links, err := c.PolicyAppliesToMPS(ctx)
	require.NoError(t, err)
	require.Len(t, links, 2)
	for _, l := range links {
		require.Equal(t, sapName, l.ManagedElement.Selector("Name"))
		l.MpsType, l.OrderOfAccess = amt.MPSTypeBoth, 0
		require.NoError(t, c.PutPolicyAppliesToMPS(ctx, l))
	}
	links, err = c.PolicyAppliesToMPS(ctx)
	require.NoError(t, err)
	for _, l := range links {
		require.Equal(t, amt.MPSTypeBoth, l.MpsType)
	}

	// Step 12: user-initiated connections from BIOS and OS.
	require.NoError(t, c.SetUserInitiatedConnection(ctx, amt.UserInitiatedBIOSAndOS))

	// Step 13: environment detection, so that AMT considers itself outside the enterprise.
	env, err := c.EnvironmentDetection(ctx)
	require.NoError(t, err)
	require.Equal(t, "Intel(r) AMT Environment Detection Settings", env.InstanceID)
	require.Empty(t, env.DetectionStrings)
	env.DetectionStrings = []string{"0d8a1c2e-conformance.com"}
	echoed, err := c.PutEnvironmentDetection(ctx, env)
	require.NoError(t, err)
	require.Equal(t, []string{"0d8a1c2e-conformance.com"}, echoed.DetectionStrings)

	cfg := r.dev.CIRA()
	require.True(t, cfg.Configured(), "the simulator would now open CIRA")
	server, interval, ok := cfg.Periodic()
	require.True(t, ok)
	require.Equal(t, "ciraUser1", server.Username)
	require.Equal(t, "C1ra&<Pass>", server.Password)
	require.Equal(t, 25, interval)
	require.Equal(t, amt.UserInitiatedBIOSAndOS, cfg.UserInitiated)
	for _, l := range cfg.Links {
		require.Equal(t, amt.MPSTypeBoth, l.MpsType)
	}

	// Unconfiguration (§2.6): rules, then the server, then certificates, then detection strings.
	for _, name := range []string{"User Initiated", "Periodic"} {
		require.NoError(t, c.DeleteRemoteAccessPolicyRule(ctx, name))
	}
	var fault *wsman.FaultError
	err = c.DeleteRemoteAccessPolicyRule(ctx, "Alert")
	require.ErrorAs(t, err, &fault, "RPS tolerates this (§2.6 step 5: HTTP 400 accepted)")
	require.Equal(t, "DestinationUnreachable", fault.Subcode)
	links, err = c.PolicyAppliesToMPS(ctx)
	require.NoError(t, err)
	require.Empty(t, links)

	require.NoError(t, c.DeleteManagementPresenceRemoteSAP(ctx, sapName))
	saps, err = c.ManagementPresenceRemoteSAPs(ctx)
	require.NoError(t, err)
	require.Empty(t, saps)

	require.NoError(t, c.DeletePublicKeyCertificate(ctx, certID))
	certs, err = c.PublicKeyCertificates(ctx)
	require.NoError(t, err)
	require.Empty(t, certs)

	env.DetectionStrings = nil
	echoed, err = c.PutEnvironmentDetection(ctx, env)
	require.NoError(t, err)
	require.Empty(t, echoed.DetectionStrings)

	cfg = r.dev.CIRA()
	require.False(t, cfg.Configured())
	require.Empty(t, cfg.Servers)
	require.Empty(t, cfg.Rules)
	require.Empty(t, cfg.Certificates)
	require.Empty(t, cfg.DetectionStrings)
}
