package amt

import (
	"context"
	"encoding/base64"
	"encoding/binary"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

// AddTrustedRootCertificate installs a root CA (DER) AMT trusts for the CIRA TLS server and returns the
// InstanceID of the created AMT_PublicKeyCertificate (§2.9 step 3).
func (c *Client) AddTrustedRootCertificate(ctx context.Context, certDER []byte) (string, error) {
	var out struct {
		CreatedCertificate wsman.EPR
	}
	err := c.invoke(ctx, uriPublicKeyManagementService, "AddTrustedRootCertificate", &out,
		wsman.Text("CertificateBlob", base64.StdEncoding.EncodeToString(certDER)))
	return out.CreatedCertificate.Selector("InstanceID"), err
}

// MPServer is the input of AddMpServer (§2.9 step 6).
type MPServer struct {
	AccessInfo string // host name or IP address of the CIRA gateway
	InfoFormat int    // 3 IPv4, 4 IPv6, 201 FQDN
	Port       int
	AuthMethod int // 2 username/password
	Username   string
	Password   string
	CN         string // only meaningful with InfoFormat 3
}

// Management presence server formats and authentication (AMT_RemoteAccessService.AddMpServer).
const (
	MPSInfoFormatIPv4 = 3
	MPSInfoFormatIPv6 = 4
	MPSInfoFormatFQDN = 201
	MPSAuthUserPass   = 2
	MPSTypeBoth       = 2 // AMT_RemoteAccessPolicyAppliesToMPS.MpsType: inside and outside the enterprise
)

// UserInitiatedBIOSAndOS is the RequestedState enabling user-initiated CIRA from both BIOS and OS (§2.9 step 12).
const UserInitiatedBIOSAndOS = 32771

// AddMpServer registers the CIRA gateway and returns the reference to the created
// AMT_ManagementPresenceRemoteSAP. CN is always sent, possibly empty, as the reference libraries do (§7.8).
func (c *Client) AddMpServer(ctx context.Context, s MPServer) (wsman.EPR, error) {
	var out struct {
		MpServer wsman.EPR
	}
	err := c.invoke(ctx, uriRemoteAccessService, "AddMpServer", &out,
		wsman.Text("AccessInfo", s.AccessInfo),
		wsman.Int("InfoFormat", int64(s.InfoFormat)),
		wsman.Int("Port", int64(s.Port)),
		wsman.Int("AuthMethod", int64(s.AuthMethod)),
		wsman.Text("Username", s.Username),
		wsman.Text("Password", s.Password),
		wsman.Text("CN", s.CN))
	return out.MpServer, err
}

// Remote access policy triggers (AMT_RemoteAccessPolicyRule.Trigger).
const (
	TriggerUserInitiated = 0
	TriggerAlert         = 1
	TriggerPeriodic      = 2
)

// PolicyRule is the input of AddRemoteAccessPolicyRule.
type PolicyRule struct {
	Trigger        int
	TunnelLifeTime int    // seconds, 0 = until closed
	ExtendedData   []byte // PeriodicInterval(…) for a periodic rule, empty otherwise
	MpServerName   string // Name of the AMT_ManagementPresenceRemoteSAP, e.g. "Intel(r) AMT:Management Presence Server 0"
}

// PeriodicInterval is the ExtendedData of a periodic rule that connects every `seconds` (periodic type 0,
// §2.9 step 8: 25 s gives AAAAAAAAABk=).
func PeriodicInterval(seconds uint32) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint32(b[4:], seconds)
	return b
}

// AddRemoteAccessPolicyRule adds a CIRA trigger bound to a management presence server (body as §7.8) and returns
// the reference to the created AMT_RemoteAccessPolicyRule.
func (c *Client) AddRemoteAccessPolicyRule(ctx context.Context, r PolicyRule) (wsman.EPR, error) {
	var out struct {
		PolicyRule wsman.EPR
	}
	err := c.invoke(ctx, uriRemoteAccessService, "AddRemoteAccessPolicyRule", &out,
		wsman.Int("Trigger", int64(r.Trigger)),
		wsman.Int("TunnelLifeTime", int64(r.TunnelLifeTime)),
		wsman.Text("ExtendedData", base64.StdEncoding.EncodeToString(r.ExtendedData)),
		wsman.Ref("MpServer", wsman.EPR{
			Address:     wsman.AddressAnonymous,
			ResourceURI: uriManagementPresenceRemoteSAP,
			Selectors:   []wsman.Selector{{Name: "Name", Value: r.MpServerName}},
		}))
	return out.PolicyRule, err
}

// DeleteRemoteAccessPolicyRule deletes a rule by PolicyRuleName ("User Initiated", "Alert", "Periodic"; §2.6).
func (c *Client) DeleteRemoteAccessPolicyRule(ctx context.Context, policyRuleName string) error {
	return c.ws.Delete(ctx, uriRemoteAccessPolicyRule, wsman.Selector{Name: "PolicyRuleName", Value: policyRuleName})
}

// PolicyAppliesToMPS is AMT_RemoteAccessPolicyAppliesToMPS: which server a policy rule uses.
type PolicyAppliesToMPS struct {
	ManagedElement wsman.EPR // the AMT_ManagementPresenceRemoteSAP
	MpsType        int
	OrderOfAccess  int
	PolicySet      wsman.EPR // the AMT_RemoteAccessPolicyRule
}

// PolicyAppliesToMPS enumerates AMT_RemoteAccessPolicyAppliesToMPS.
func (c *Client) PolicyAppliesToMPS(ctx context.Context) ([]PolicyAppliesToMPS, error) {
	return enumerate[PolicyAppliesToMPS](ctx, c, uriRemoteAccessPolicyAppliesToMPS)
}

// PutPolicyAppliesToMPS writes an association read by PolicyAppliesToMPS, typically with MpsType MPSTypeBoth and
// OrderOfAccess 0. The instance is selected by its two references (§2.9 step 11).
func (c *Client) PutPolicyAppliesToMPS(ctx context.Context, p PolicyAppliesToMPS) error {
	_, err := c.ws.Put(ctx, uriRemoteAccessPolicyAppliesToMPS,
		[]wsman.Param{
			wsman.Ref("ManagedElement", p.ManagedElement),
			wsman.Int("OrderOfAccess", int64(p.OrderOfAccess)),
			wsman.Int("MpsType", int64(p.MpsType)),
			wsman.Ref("PolicySet", p.PolicySet),
		},
		wsman.Selector{Name: "ManagedElement", EPR: &p.ManagedElement},
		wsman.Selector{Name: "PolicySet", EPR: &p.PolicySet})
	return err
}

// ManagementPresenceRemoteSAP is AMT_ManagementPresenceRemoteSAP, a configured CIRA server.
type ManagementPresenceRemoteSAP struct {
	AccessInfo              string
	CN                      string
	CreationClassName       string
	ElementName             string
	InfoFormat              int
	Name                    string
	Port                    int
	SystemCreationClassName string
	SystemName              string
}

// ManagementPresenceRemoteSAPs enumerates the configured CIRA servers.
func (c *Client) ManagementPresenceRemoteSAPs(ctx context.Context) ([]ManagementPresenceRemoteSAP, error) {
	return enumerate[ManagementPresenceRemoteSAP](ctx, c, uriManagementPresenceRemoteSAP)
}

// DeleteManagementPresenceRemoteSAP removes a CIRA server by Name.
func (c *Client) DeleteManagementPresenceRemoteSAP(ctx context.Context, name string) error {
	return c.ws.Delete(ctx, uriManagementPresenceRemoteSAP, wsman.Selector{Name: "Name", Value: name})
}

// SetUserInitiatedConnection calls AMT_UserInitiatedConnectionService.RequestStateChange, e.g. with
// UserInitiatedBIOSAndOS (§2.9 step 12; the ReturnValue must be 0).
func (c *Client) SetUserInitiatedConnection(ctx context.Context, requestedState int) error {
	return c.invoke(ctx, uriUserInitiatedConnectionService, "RequestStateChange", nil,
		wsman.Int("RequestedState", int64(requestedState)))
}

// PublicKeyCertificate is AMT_PublicKeyCertificate. AMT spells the trusted-root property "TrustedRootCertficate".
type PublicKeyCertificate struct {
	ElementName            string
	InstanceID             string
	X509Certificate        string // base64 DER
	TrustedRootCertificate bool   `xml:"TrustedRootCertficate"`
	Issuer                 string
	Subject                string
	ReadOnlyCertificate    bool
}

// PublicKeyCertificates enumerates the certificates stored in AMT.
func (c *Client) PublicKeyCertificates(ctx context.Context) ([]PublicKeyCertificate, error) {
	return enumerate[PublicKeyCertificate](ctx, c, uriPublicKeyCertificate)
}

// DeletePublicKeyCertificate deletes a certificate by InstanceID.
func (c *Client) DeletePublicKeyCertificate(ctx context.Context, instanceID string) error {
	return c.ws.Delete(ctx, uriPublicKeyCertificate, wsman.Selector{Name: "InstanceID", Value: instanceID})
}
