package rps

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// ProtocolVersion is the protocol version of this server and of rpc-go (§1.2).
const ProtocolVersion = "4.0.0"

// MaxMessageBytes is the largest text frame accepted from rpc-go (§1.1: 1024*10*10).
const MaxMessageBytes = 102400

// Methods on the wire (§1.3).
const (
	methodWSMan             = "wsman"
	methodResponse          = "response"
	methodSuccess           = "success"
	methodError             = "error"
	methodHeartbeatResponse = "heartbeat_response"
	methodHeartbeatRequest  = "heartbeat_request"
	methodTLSData           = "tls_data"
	methodConnectionReset   = "connection_reset"
	methodPortSwitch        = "port_switch"
	methodPortSwitchAck     = "port_switch_ack"
)

// clientMessage is what rpc-go sends; fields in rpc-go's marshal order (§1.2).
type clientMessage struct {
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

// serverMessage is what we send. Payload is null on terminal messages (§1.7) and base64 on `wsman`.
type serverMessage struct {
	Method          string  `json:"method"`
	APIKey          string  `json:"apiKey"`
	AppVersion      string  `json:"appVersion"`
	ProtocolVersion string  `json:"protocolVersion"`
	Status          string  `json:"status"`
	Message         string  `json:"message"`
	Payload         *string `json:"payload"`
	TenantID        string  `json:"tenantId"`
}

// Status is the object carried, as JSON text, in the message of a terminal message (§1.7, §4.2).
type Status struct {
	Status           string `json:"Status"`
	Network          string `json:"Network,omitempty"`
	CIRAConnection   string `json:"CIRAConnection,omitempty"`
	TLSConfiguration string `json:"TLSConfiguration,omitempty"`
}

// JSON is the status as the message text.
func (s Status) JSON() string {
	b, _ := json.Marshal(s) // plain strings: cannot fail
	return string(b)
}

// Payload is the activation payload, base64 JSON in the first message (§1.5). Only the fields we use are kept.
type Payload struct {
	Version     string   `json:"ver"`
	Build       string   `json:"build"`
	SKU         string   `json:"sku"`
	Features    string   `json:"features"`
	UUID        string   `json:"-"` // canonical lower-case; decoded from a string or a legacy 16-byte array
	Username    string   `json:"username"`
	Password    string   `json:"password"`
	CurrentMode int      `json:"currentMode"`
	Hostname    string   `json:"hostname"`
	FQDN        string   `json:"fqdn"` // the DNS suffix, not a host name (§1.5)
	Client      string   `json:"client"`
	CertHashes  []string `json:"certHashes"`
	// IPConfiguration and HostnameInfo are filled by rpc-go only for maintenance --syncip / --synchostname.
	IPConfiguration *IPConfiguration `json:"ipConfiguration"`
	HostnameInfo    *HostnameInfo    `json:"hostnameInfo"`
	FriendlyName    string           `json:"friendlyName"`
	TLSEnforced     bool             `json:"tlsEnforced"`
	TLSTunnel       bool             `json:"tlsTunnel"` // --tls-tunnel on AMT 11–18: same tunnel as tlsEnforced
}

// IPConfiguration is the host's wired IP setup rpc-go reports for syncip (§1.5).
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

// HostnameInfo is the OS host name and DNS suffix rpc-go reports for synchostname (§1.5).
type HostnameInfo struct {
	DNSSuffixOS string `json:"dnsSuffixOS"`
	Hostname    string `json:"hostname"`
}

// tunnel reports whether AMT is reached through the TLS tunnel (§1.9).
func (p Payload) tunnel() bool { return p.TLSEnforced || p.TLSTunnel }

// Command is what the method string of the first message asks for (§1.4).
type Command struct {
	Op      string // "activate", "deactivate", "maintenance" or whatever else came first
	Profile string // activate --profile
	Force   bool   // -f / --force
	Task    string // maintenance task: synctime, syncip, synchostname, changepassword, syncdeviceinfo
	TaskArg string // changepassword <new password>
}

// Operations.
const (
	OpActivate    = "activate"
	OpDeactivate  = "deactivate"
	OpMaintenance = "maintenance"
)

var maintenanceTasks = map[string]bool{
	"synctime": true, "syncip": true, "synchostname": true, "changepassword": true, "syncdeviceinfo": true,
}

// ParseCommand reads the command string. Unlike RPS it never takes a password from it (a password with spaces
// breaks the split, and rpc-go puts the same password in the payload, §1.4): the value after -p/--password is
// skipped. The changepassword argument is the token right after the flag, as rpc-go writes it.
func ParseCommand(s string) Command {
	var c Command
	tokens := strings.Fields(s)
	for i := 0; i < len(tokens); i++ {
		tok := tokens[i]
		name, value, hasValue := strings.Cut(strings.TrimLeft(tok, "-"), "=")
		if !strings.HasPrefix(tok, "-") {
			if c.Op == "" {
				c.Op = tok
			}
			continue
		}
		next := func() string {
			if hasValue {
				return value
			}
			if i+1 < len(tokens) {
				i++
				return tokens[i]
			}
			return ""
		}
		switch {
		case name == "profile":
			c.Profile = next()
		case name == "f" || name == "force":
			c.Force = true
		case name == "p" || name == "password" || name == "t" || name == "text":
			next()
		case maintenanceTasks[name]:
			c.Task = name
			if name == "changepassword" {
				if hasValue {
					c.TaskArg = value
				} else if i+1 < len(tokens) && !strings.HasPrefix(tokens[i+1], "-") {
					i++
					c.TaskArg = tokens[i]
				}
			}
		}
	}
	return c
}

// SupportedProtocol applies RPS's rule (§1.2): same major, and a greater server minor, or the same minor with a
// server revision at least the client's. An unparsable version is not supported.
func SupportedProtocol(client string) bool {
	c, ok := parseVersion(client)
	if !ok {
		return false
	}
	s, _ := parseVersion(ProtocolVersion)
	return c[0] == s[0] && (s[1] > c[1] || (s[1] == c[1] && s[2] >= c[2]))
}

func parseVersion(v string) ([3]int, bool) {
	var out [3]int
	parts := strings.Split(strings.TrimSpace(v), ".")
	if len(parts) == 0 || len(parts) > 3 {
		return out, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

// DecodePayload decodes and checks the base64 JSON payload. clientID prefixes the uuid texts as RPS does.
func DecodePayload(b64, clientID string) (Payload, error) {
	var p Payload
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return p, &refusal{"Failed to parse client message payload. " + err.Error()}
	}
	var wire struct {
		Payload
		UUID json.RawMessage `json:"uuid"`
	}
	if err := json.Unmarshal(raw, &wire); err != nil {
		return p, &refusal{"Failed to parse client message payload. " + err.Error()}
	}
	p = wire.Payload
	id, present, err := decodeUUID(wire.UUID)
	if err != nil {
		return p, &refusal{"Failed to parse client message payload. " + err.Error()}
	}
	if p.Client == "" || p.Version == "" || p.Build == "" || !present {
		return p, &refusal{"Invalid payload from client"}
	}
	if len(id) != 36 {
		return p, &refusal{clientID + " - uuid not valid length"}
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return p, &refusal{fmt.Sprintf("%s - uuid %q is not a UUID", clientID, id)}
	}
	p.UUID = u.String()
	return p, nil
}

// decodeUUID accepts the string form or the legacy 16-byte array, whose first three groups are little-endian
// (§1.5, vector §7.12). present is false for a missing, null or empty uuid.
func decodeUUID(raw json.RawMessage) (id string, present bool, err error) {
	t := strings.TrimSpace(string(raw))
	if t == "" || t == "null" {
		return "", false, nil
	}
	if strings.HasPrefix(t, "[") {
		var b []byte
		var ints []int
		if err := json.Unmarshal(raw, &ints); err != nil {
			return "", false, fmt.Errorf("uuid: %w", err)
		}
		for _, n := range ints {
			if n < 0 || n > 255 {
				return "", false, fmt.Errorf("uuid: byte %d out of range", n)
			}
			b = append(b, byte(n))
		}
		if len(b) != 16 {
			return "", true, nil // reported as "uuid not valid length"
		}
		t := [16]byte{b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]}
		copy(t[8:], b[8:])
		return uuid.UUID(t).String(), true, nil
	}
	if err := json.Unmarshal(raw, &id); err != nil {
		return "", false, fmt.Errorf("uuid: %w", err)
	}
	return id, id != "", nil
}

// leadingFloat is JavaScript parseFloat's accepted prefix, which RPS applies to `ver` (§2.1).
var leadingFloat = regexp.MustCompile(`^\s*[+-]?(\d+(\.\d*)?|\.\d+)`)

func parseFloat(s string) (float64, bool) {
	m := leadingFloat.FindString(s)
	if m == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(m), 64)
	return f, err == nil
}

// needsFirmwareUpdate lists the AMT versions whose builds below 3000 cannot be configured remotely (§2.1 step 2).
var needsFirmwareUpdate = map[float64]bool{
	7.0: true, 7.1: true, 8.0: true, 8.1: true, 9.0: true, 9.1: true, 9.5: true, 10.0: true, 11.0: true,
	11.5: true, 11.6: true,
}

// checkFirmware applies §2.1 step 2; what is "activation" or "deactivation".
func checkFirmware(p Payload, what string) error {
	ver, ok := parseFloat(p.Version)
	if !ok {
		return &refusal{fmt.Sprintf("Device %s %s failed. AMT version %q is not a version number.", p.UUID, what, p.Version)}
	}
	build, _ := strconv.Atoi(strings.TrimSpace(p.Build))
	if needsFirmwareUpdate[ver] && build < 3000 {
		return &refusal{fmt.Sprintf("Device %s %s failed. Please check with your OEM for a firmware update.", p.UUID, what)}
	}
	if ver < 7 {
		return &refusal{fmt.Sprintf("Device %s %s failed. AMT version: %s. Version less than 7 cannot be remotely configured ",
			p.UUID, what, p.Version)}
	}
	return nil
}
