// Package amt holds typed Intel AMT operations (power, settings, version, hardware, audit log, setup and remote
// access configuration) on top of dmtclient/wsman. Class and property names follow the AMT/CIM schemas; wire
// facts cite protocol-cira-wsman.md and protocol-rps-activation.md.
package amt

import (
	"context"
	"fmt"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

// Client runs AMT operations for one device.
type Client struct {
	ws *wsman.Client
}

// New wraps a WS-Man client.
func New(c *wsman.Client) *Client { return &Client{ws: c} }

// WSMan returns the underlying WS-Man client (credentials, raw calls).
func (c *Client) WSMan() *wsman.Client { return c.ws }

// Resource URIs of the classes used here.
var (
	uriServiceAvailableToElement      = wsman.CIM("CIM_ServiceAvailableToElement")
	uriPowerManagementService         = wsman.CIM("CIM_PowerManagementService")
	uriPowerManagementCapabilities    = wsman.CIM("CIM_PowerManagementCapabilities")
	uriComputerSystem                 = wsman.CIM("CIM_ComputerSystem")
	uriSoftwareIdentity               = wsman.CIM("CIM_SoftwareIdentity")
	uriComputerSystemPackage          = wsman.CIM("CIM_ComputerSystemPackage")
	uriChassis                        = wsman.CIM("CIM_Chassis")
	uriCard                           = wsman.CIM("CIM_Card")
	uriBIOSElement                    = wsman.CIM("CIM_BIOSElement")
	uriProcessor                      = wsman.CIM("CIM_Processor")
	uriPhysicalMemory                 = wsman.CIM("CIM_PhysicalMemory")
	uriBootCapabilities               = wsman.AMT("AMT_BootCapabilities")
	uriGeneralSettings                = wsman.AMT("AMT_GeneralSettings")
	uriSetupAndConfigurationService   = wsman.AMT("AMT_SetupAndConfigurationService")
	uriAuditLog                       = wsman.AMT("AMT_AuditLog")
	uriAuthorizationService           = wsman.AMT("AMT_AuthorizationService")
	uriPublicKeyManagementService     = wsman.AMT("AMT_PublicKeyManagementService")
	uriPublicKeyCertificate           = wsman.AMT("AMT_PublicKeyCertificate")
	uriRemoteAccessService            = wsman.AMT("AMT_RemoteAccessService")
	uriRemoteAccessPolicyRule         = wsman.AMT("AMT_RemoteAccessPolicyRule")
	uriRemoteAccessPolicyAppliesToMPS = wsman.AMT("AMT_RemoteAccessPolicyAppliesToMPS")
	uriManagementPresenceRemoteSAP    = wsman.AMT("AMT_ManagementPresenceRemoteSAP")
	uriUserInitiatedConnectionService = wsman.AMT("AMT_UserInitiatedConnectionService")
	uriEnvironmentDetection           = wsman.AMT("AMT_EnvironmentDetectionSettingData")
	uriHostBasedSetupService          = wsman.IPS("IPS_HostBasedSetupService")
	uriMediaAccessDevice              = wsman.CIM("CIM_MediaAccessDevice")
	uriPhysicalPackage                = wsman.CIM("CIM_PhysicalPackage")
	uriSystemPackaging                = wsman.CIM("CIM_SystemPackaging")
	uriChip                           = wsman.CIM("CIM_Chip")
	uriMessageLog                     = wsman.AMT("AMT_MessageLog")
)

// get reads one instance into v.
func (c *Client) get(ctx context.Context, uri string, v any, selectors ...wsman.Selector) error {
	r, err := c.ws.Get(ctx, uri, selectors...)
	if err != nil {
		return err
	}
	return r.Decode(v)
}

// enumerate reads every instance of the class named by uri into T; items of other classes (associations can
// return several) are skipped.
func enumerate[T any](ctx context.Context, c *Client, uri string) ([]T, error) {
	return enumerateAs[T](ctx, c, uri, wsman.ClassOf(uri))
}

// enumerateAs reads the instances of class from an enumeration of uri; a parent class's enumeration answers with
// its subclasses' instances (CIM_PhysicalPackage lists CIM_Card).
func enumerateAs[T any](ctx context.Context, c *Client, uri, class string) ([]T, error) {
	items, err := c.ws.EnumerateAll(ctx, uri)
	if err != nil {
		return nil, err
	}
	var out []T
	for _, it := range items {
		if it.Name != class {
			continue
		}
		var v T
		if err := it.Decode(&v); err != nil {
			return nil, fmt.Errorf("decode %s: %w", class, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// invoke calls a method and decodes its _OUTPUT into out when out is non-nil; a non-zero ReturnValue is an error
// (*wsman.ReturnValueError) but out is still filled.
func (c *Client) invoke(ctx context.Context, uri, method string, out any, params ...wsman.Param) error {
	r, err := c.ws.Invoke(ctx, uri, method, params...)
	if r != nil && out != nil {
		if derr := r.Decode(out); derr != nil && err == nil {
			err = derr
		}
	}
	return err
}
