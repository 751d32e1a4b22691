package amt

import (
	"context"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

// GeneralSettings is AMT_GeneralSettings (§10.1; values such as DigestRealm in protocol-rps-activation §7.9).
type GeneralSettings struct {
	ElementName                   string
	InstanceID                    string
	NetworkInterfaceEnabled       bool // read-only
	DigestRealm                   string
	IdleWakeTimeout               int
	HostName                      string
	DomainName                    string
	PingResponseEnabled           bool
	WsmanOnlyMode                 bool
	PreferredAddressFamily        int
	DHCPv6ConfigurationTimeout    int
	DDNSUpdateEnabled             bool
	DDNSUpdateByDHCPServerEnabled bool
	SharedFQDN                    bool
	HostOSFQDN                    string
	DDNSTTL                       int
	AMTNetworkEnabled             int // 1 enabled
	RmcpPingResponseEnabled       bool
	DDNSPeriodicUpdateInterval    int
	PresenceNotificationInterval  int
	PrivacyLevel                  int // read-only
	PowerSource                   int // read-only
	ThunderboltDockEnabled        int
	OemID                         int
	DHCPSyncRequiresHostname      int
}

// GeneralSettings reads AMT_GeneralSettings.
func (c *Client) GeneralSettings(ctx context.Context) (GeneralSettings, error) {
	var v GeneralSettings
	return v, c.get(ctx, uriGeneralSettings, &v)
}

// EnvironmentDetectionSettingData is AMT_EnvironmentDetectionSettingData: the domains where AMT considers itself
// inside the enterprise and does not open CIRA (protocol-rps-activation §2.9 step 13).
type EnvironmentDetectionSettingData struct {
	ElementName                string
	InstanceID                 string
	DetectionAlgorithm         int
	DetectionStrings           []string
	DetectionIPv6LocalPrefixes []string
}

// EnvironmentDetection reads AMT_EnvironmentDetectionSettingData.
func (c *Client) EnvironmentDetection(ctx context.Context) (EnvironmentDetectionSettingData, error) {
	var v EnvironmentDetectionSettingData
	return v, c.get(ctx, uriEnvironmentDetection, &v)
}

// PutEnvironmentDetection writes the instance, selected by its InstanceID (body and selector as §7.8). An empty
// DetectionStrings clears the list (§2.6 step 10).
func (c *Client) PutEnvironmentDetection(ctx context.Context, d EnvironmentDetectionSettingData) (EnvironmentDetectionSettingData, error) {
	p := []wsman.Param{
		wsman.Text("ElementName", d.ElementName),
		wsman.Text("InstanceID", d.InstanceID),
		wsman.Int("DetectionAlgorithm", int64(d.DetectionAlgorithm)),
	}
	for _, s := range d.DetectionStrings {
		p = append(p, wsman.Text("DetectionStrings", s))
	}
	for _, s := range d.DetectionIPv6LocalPrefixes {
		p = append(p, wsman.Text("DetectionIPv6LocalPrefixes", s))
	}
	r, err := c.ws.Put(ctx, uriEnvironmentDetection, p, wsman.Selector{Name: "InstanceID", Value: d.InstanceID})
	if err != nil {
		return EnvironmentDetectionSettingData{}, err
	}
	var v EnvironmentDetectionSettingData
	return v, r.Decode(&v)
}
