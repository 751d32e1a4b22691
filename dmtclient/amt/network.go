package amt

import (
	"context"
	"strings"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

var uriEthernetPortSettings = wsman.AMT("AMT_EthernetPortSettings")

// EthernetPortSettings is AMT_EthernetPortSettings: InstanceID "... Settings 0" is the wired port, "... Settings 1"
// WiFi (protocol-rps-activation §2.6 step 1, §2.7).
type EthernetPortSettings struct {
	ElementName            string
	InstanceID             string
	SharedMAC              bool
	MACAddress             string
	LinkIsUp               bool
	LinkPolicy             []int
	SharedStaticIp         bool //nolint:revive // the schema's spelling
	SharedDynamicIP        bool
	IpSyncEnabled          bool //nolint:revive // the schema's spelling
	DHCPEnabled            bool
	IPAddress              string
	SubnetMask             string
	DefaultGateway         string
	PrimaryDNS             string
	SecondaryDNS           string
	PhysicalConnectionType int
}

// Wired reports whether the settings are the wired port's.
func (e EthernetPortSettings) Wired() bool { return strings.HasSuffix(e.InstanceID, "Settings 0") }

// EthernetPortSettings enumerates the ports' settings.
func (c *Client) EthernetPortSettings(ctx context.Context) ([]EthernetPortSettings, error) {
	return enumerate[EthernetPortSettings](ctx, c, uriEthernetPortSettings)
}

// PutEthernetPortSettings writes a port's writable settings, selected by InstanceID, and returns what AMT
// echoes. With DHCPEnabled the static fields are left out (§2.7 step 3); LinkPolicy is written back as read,
// because a Put replaces the representation and would otherwise clear it.
func (c *Client) PutEthernetPortSettings(ctx context.Context, e EthernetPortSettings) (EthernetPortSettings, error) {
	p := params{wsman.Text("ElementName", e.ElementName), wsman.Text("InstanceID", e.InstanceID)}
	for _, lp := range e.LinkPolicy {
		p = append(p, wsman.Int("LinkPolicy", int64(lp)))
	}
	p.boolean("SharedStaticIp", e.SharedStaticIp)
	p.boolean("IpSyncEnabled", e.IpSyncEnabled)
	p.boolean("DHCPEnabled", e.DHCPEnabled)
	if !e.DHCPEnabled {
		p.text("IPAddress", e.IPAddress)
		p.text("SubnetMask", e.SubnetMask)
		p.text("DefaultGateway", e.DefaultGateway)
		p.text("PrimaryDNS", e.PrimaryDNS)
		p.text("SecondaryDNS", e.SecondaryDNS)
	}
	r, err := c.ws.Put(ctx, uriEthernetPortSettings, p, wsman.Selector{Name: "InstanceID", Value: e.InstanceID})
	if err != nil {
		return EthernetPortSettings{}, err
	}
	var v EthernetPortSettings
	return v, r.Decode(&v)
}
