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

// PutGeneralSettings writes the writable properties and returns the instance AMT echoes. Read-only properties are
// not sent; empty strings and zero integers are left out (AMT keeps its value), booleans are always sent.
func (c *Client) PutGeneralSettings(ctx context.Context, gs GeneralSettings) (GeneralSettings, error) {
	var p params
	p.text("ElementName", gs.ElementName)
	p.text("InstanceID", gs.InstanceID)
	p.nonZero("IdleWakeTimeout", gs.IdleWakeTimeout)
	p.text("HostName", gs.HostName)
	p.text("DomainName", gs.DomainName)
	p.boolean("PingResponseEnabled", gs.PingResponseEnabled)
	p.boolean("WsmanOnlyMode", gs.WsmanOnlyMode)
	p.nonZero("PreferredAddressFamily", gs.PreferredAddressFamily)
	p.nonZero("DHCPv6ConfigurationTimeout", gs.DHCPv6ConfigurationTimeout)
	p.boolean("DDNSUpdateEnabled", gs.DDNSUpdateEnabled)
	p.boolean("DDNSUpdateByDHCPServerEnabled", gs.DDNSUpdateByDHCPServerEnabled)
	p.boolean("SharedFQDN", gs.SharedFQDN)
	p.text("HostOSFQDN", gs.HostOSFQDN)
	p.nonZero("DDNSTTL", gs.DDNSTTL)
	p.nonZero("AMTNetworkEnabled", gs.AMTNetworkEnabled)
	p.boolean("RmcpPingResponseEnabled", gs.RmcpPingResponseEnabled)
	p.nonZero("DDNSPeriodicUpdateInterval", gs.DDNSPeriodicUpdateInterval)
	p.nonZero("PresenceNotificationInterval", gs.PresenceNotificationInterval)
	p.nonZero("ThunderboltDockEnabled", gs.ThunderboltDockEnabled)
	p.nonZero("OemID", gs.OemID)
	p.nonZero("DHCPSyncRequiresHostname", gs.DHCPSyncRequiresHostname)
	r, err := c.ws.Put(ctx, uriGeneralSettings, p)
	if err != nil {
		return GeneralSettings{}, err
	}
	var v GeneralSettings
	return v, r.Decode(&v)
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
	p := params{
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

// params accumulates Put properties in schema order.
type params []wsman.Param

func (p *params) text(name, v string) {
	if v != "" {
		*p = append(*p, wsman.Text(name, v))
	}
}

func (p *params) nonZero(name string, v int) {
	if v != 0 {
		*p = append(*p, wsman.Int(name, int64(v)))
	}
}

func (p *params) boolean(name string, v bool) { *p = append(*p, wsman.Bool(name, v)) }
