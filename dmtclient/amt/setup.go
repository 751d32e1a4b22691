package amt

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

// Unprovision deactivates AMT with ProvisioningMode 1, the call RPS uses for both CCM and ACM (§10.1, §2.12).
func (c *Client) Unprovision(ctx context.Context) error {
	return c.invoke(ctx, uriSetupAndConfigurationService, "Unprovision", nil, wsman.Int("ProvisioningMode", 1))
}

// SetMEBxPassword sets the MEBx password (plain text; ACM only, protocol-rps-activation §2.4 step 9).
func (c *Client) SetMEBxPassword(ctx context.Context, password string) error {
	return c.invoke(ctx, uriSetupAndConfigurationService, "SetMEBxPassword", nil, wsman.Text("Password", password))
}

// CommitChanges makes pending network/TLS settings effective.
func (c *Client) CommitChanges(ctx context.Context) error {
	return c.invoke(ctx, uriSetupAndConfigurationService, "CommitChanges", nil)
}

// HostBasedSetupService is IPS_HostBasedSetupService (protocol-rps-activation §7.9).
type HostBasedSetupService struct {
	AllowedControlModes     []int // 1 client (CCM), 2 admin (ACM)
	CertChainStatus         int
	ConfigurationNonce      string // base64 of 20 bytes
	CreationClassName       string
	CurrentControlMode      int // 0 none, 1 CCM, 2 ACM
	ElementName             string
	Name                    string
	SystemCreationClassName string
	SystemName              string
}

// FirmwareNonce decodes ConfigurationNonce, the fwNonce that AdminSetup's signature covers.
func (h HostBasedSetupService) FirmwareNonce() ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(h.ConfigurationNonce)
	if err != nil {
		return nil, fmt.Errorf("ConfigurationNonce is not base64: %w", err)
	}
	return b, nil
}

// HostBasedSetupService reads IPS_HostBasedSetupService.
func (c *Client) HostBasedSetupService(ctx context.Context) (HostBasedSetupService, error) {
	var v HostBasedSetupService
	return v, c.get(ctx, uriHostBasedSetupService, &v)
}

// passwordEncryptionDigestMD5A1 is NetAdminPassEncryptionType 2 (HTTPDigestMD5A1, §2.2).
const passwordEncryptionDigestMD5A1 = 2

// signingRSASHA256 is SigningAlgorithm 2 (RSASHA2256, §2.4 step 7).
const signingRSASHA256 = 2

// Setup activates in client control mode. passwordHash is AdminPasswordHash(realm, newPassword).
func (c *Client) Setup(ctx context.Context, passwordHash string) error {
	return c.invoke(ctx, uriHostBasedSetupService, "Setup", nil,
		wsman.Int("NetAdminPassEncryptionType", passwordEncryptionDigestMD5A1),
		wsman.Text("NetworkAdminPassword", passwordHash))
}

// AdminSetupRequest carries AdminSetup's inputs (protocol-rps-activation §2.4 step 7).
type AdminSetupRequest struct {
	PasswordHash string // AdminPasswordHash(realm, newPassword)
	McNonce      []byte // NewMcNonce()
	Signature    []byte // SignNonces(provisioningKey, fwNonce, McNonce)
}

// AdminSetup activates in admin control mode after the provisioning chain was sent with AddNextCertInChain.
// RPS never re-sends it: on a timeout, read HostBasedSetupService.CurrentControlMode instead.
func (c *Client) AdminSetup(ctx context.Context, req AdminSetupRequest) error {
	return c.invoke(ctx, uriHostBasedSetupService, "AdminSetup", nil,
		wsman.Int("NetAdminPassEncryptionType", passwordEncryptionDigestMD5A1),
		wsman.Text("NetworkAdminPassword", req.PasswordHash),
		wsman.Text("McNonce", base64.StdEncoding.EncodeToString(req.McNonce)),
		wsman.Int("SigningAlgorithm", signingRSASHA256),
		wsman.Text("DigitalSignature", base64.StdEncoding.EncodeToString(req.Signature)))
}

// AddNextCertInChain sends one certificate (DER) of the provisioning chain: leaf first (isLeaf), root last
// (isRoot); a one-certificate chain is sent as leaf only (§2.4 step 6).
func (c *Client) AddNextCertInChain(ctx context.Context, certDER []byte, isLeaf, isRoot bool) error {
	return c.invoke(ctx, uriHostBasedSetupService, "AddNextCertInChain", nil,
		wsman.Text("NextCertificate", base64.StdEncoding.EncodeToString(certDER)),
		wsman.Bool("IsLeafCertificate", isLeaf),
		wsman.Bool("IsRootCertificate", isRoot))
}

// UpgradeClientToAdmin upgrades CCM to ACM with the same nonce signature as AdminSetup (§2.5 step 4).
func (c *Client) UpgradeClientToAdmin(ctx context.Context, mcNonce, signature []byte) error {
	return c.invoke(ctx, uriHostBasedSetupService, "UpgradeClientToAdmin", nil,
		wsman.Text("McNonce", base64.StdEncoding.EncodeToString(mcNonce)),
		wsman.Int("SigningAlgorithm", signingRSASHA256),
		wsman.Text("DigitalSignature", base64.StdEncoding.EncodeToString(signature)))
}

// SetAdminAclEntryEx changes the admin password; digestPassword is AdminDigestPassword(realm, newPassword).
func (c *Client) SetAdminAclEntryEx(ctx context.Context, username, digestPassword string) error {
	return c.invoke(ctx, uriAuthorizationService, "SetAdminAclEntryEx", nil,
		wsman.Text("Username", username), wsman.Text("DigestPassword", digestPassword))
}
