// Package rpc is a Remote Provisioning Client for simulated devices: it speaks the rpc-go
// websocket protocol to an activation server (protocol-rps-activation §1) and relays the
// server's WS-Man requests to an amtsim.Device as rpc-go relays them to LMS.
package rpc

import (
	"encoding/json"
	"strings"
)

// ProtocolVersion is rpc-go's protocol version (§1.2).
const ProtocolVersion = "4.0.0"

// Message is the websocket envelope, identical in both directions; field order is
// rpc-go's marshal order (§1.2).
type Message struct {
	Method          string `json:"method"`
	APIKey          string `json:"apiKey"`
	AppVersion      string `json:"appVersion"`
	ProtocolVersion string `json:"protocolVersion"`
	Status          string `json:"status"`
	Message         string `json:"message"`
	Fqdn            string `json:"fqdn"`
	Payload         string `json:"payload"`
	TenantID        string `json:"tenantId"`
}

// Payload is the activation payload, base64 JSON in the first message (§1.5).
type Payload struct {
	Version         string          `json:"ver"`
	Build           string          `json:"build"`
	SKU             string          `json:"sku"`
	Features        string          `json:"features"`
	UUID            string          `json:"uuid"`
	Username        string          `json:"username"`
	Password        string          `json:"password"`
	CurrentMode     int             `json:"currentMode"`
	Hostname        string          `json:"hostname"`
	FQDN            string          `json:"fqdn"`
	Client          string          `json:"client"`
	CertHashes      []string        `json:"certHashes"`
	IPConfiguration IPConfiguration `json:"ipConfiguration"`
	HostnameInfo    HostnameInfo    `json:"hostnameInfo"`
	FriendlyName    string          `json:"friendlyName,omitempty"`
	TLSEnforced     bool            `json:"tlsEnforced,omitempty"`
	TLSTunnel       bool            `json:"tlsTunnel,omitempty"`
	LMSInstalled    bool            `json:"lmsInstalled,omitempty"`
}

// IPConfiguration is sent zero-valued except for maintenance --syncip (§1.5).
type IPConfiguration struct {
	DHCP         bool   `json:"dhcp"`
	Static       bool   `json:"static"`
	IPSync       bool   `json:"ipsync"`
	IPAddress    string `json:"ipAddress"`
	Netmask      string `json:"netmask"`
	Gateway      string `json:"gateway"`
	PrimaryDNS   string `json:"primaryDns"`
	SecondaryDNS string `json:"secondaryDns"`
}

// HostnameInfo is filled only for maintenance --synchostname (§1.5).
type HostnameInfo struct {
	DNSSuffixOS string `json:"dnsSuffixOS"`
	Hostname    string `json:"hostname"`
}

// StatusObject is the JSON carried in the message of a terminal message (§1.7).
type StatusObject struct {
	Status           string `json:"Status"`
	Network          string `json:"Network,omitempty"`
	CIRAConnection   string `json:"CIRAConnection,omitempty"`
	TLSConfiguration string `json:"TLSConfiguration,omitempty"`
}

// ActivateCommand is the first-message method of an activation (§1.4).
func ActivateCommand(profile string, force bool) string {
	return withForce("activate --profile "+profile, force)
}

// DeactivateCommand is the first-message method of a deactivation (§1.4).
func DeactivateCommand(password string, force bool) string {
	return withForce("deactivate --password "+password, force)
}

// MaintenanceCommand is the first-message method of a maintenance task such as
// "changepassword" (with an optional argument) or "synctime" (§1.4).
func MaintenanceCommand(password, task, arg string, force bool) string {
	cmd := "maintenance -password " + password + " --" + task
	if arg != "" {
		cmd += " " + arg
	}
	return withForce(cmd, force)
}

func withForce(cmd string, force bool) string {
	if force {
		return cmd + " -f"
	}
	return cmd
}

// Result is how a session ended.
type Result struct {
	// Method is "success" or "error"; Status is the envelope status ("success"/"failed").
	Method  string
	Status  string
	Message string
	// StatusObject is Message parsed as JSON, nil when it is plain text (pre-flight errors).
	StatusObject *StatusObject
	// Exchanges counts the WS-Man requests relayed to the device.
	Exchanges int
	// Heartbeats counts the heartbeat_request messages answered.
	Heartbeats int
	// TLSMessages counts tls_data messages relayed to the device's TLS port; Resets the connection_reset
	// messages sent back; PortSwitches the port_switch messages acknowledged.
	TLSMessages, Resets, PortSwitches int
}

// OK reports a success terminal message.
func (r *Result) OK() bool { return r.Method == "success" }

// Text is the status text: Status from the JSON object, else the raw message, the way
// rpc-go reports it (§1.7).
func (r *Result) Text() string {
	if r.StatusObject != nil && r.StatusObject.Status != "" {
		return r.StatusObject.Status
	}
	return r.Message
}

func parseStatus(msg string) *StatusObject {
	if !strings.HasPrefix(strings.TrimSpace(msg), "{") {
		return nil
	}
	var s StatusObject
	if json.Unmarshal([]byte(msg), &s) != nil {
		return nil
	}
	return &s
}
