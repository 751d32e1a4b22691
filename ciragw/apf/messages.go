package apf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Names carried in APF messages (§2.3).
const (
	ServiceAuth        = "auth@amt.intel.com"
	ServicePortForward = "pfwd@amt.intel.com"

	MethodPassword = "password"
	MethodNone     = "none"

	RequestTCPIPForward       = "tcpip-forward"
	RequestCancelTCPIPForward = "cancel-tcpip-forward"
	RequestUDPSendTo          = "udp-send-to@amt.intel.com"

	ChannelForwardedTCPIP = "forwarded-tcpip"
	ChannelDirectTCPIP    = "direct-tcpip"

	// ReservedOpenField is what MPS and the console put in CHANNEL_OPEN's and
	// CONFIRMATION's reserved field (§2.3).
	ReservedOpenField uint32 = 0xFFFFFFFF
)

// AMT service ports announced with tcpip-forward (§3 step 6, §8.1).
const (
	PortWSMan    uint16 = 16992 // WS-Man over HTTP, what the gateway opens
	PortRedirect uint16 = 16994 // KVM/SOL/IDE-R redirection
	PortRMCP     uint16 = 623
	PortVNC      uint16 = 5900 // its forward triggers MPS's keepalive options
)

// Message is one APF message. Each concrete type has exactly one encoder
// (AppendTo) and one decoder (in decode.go).
type Message interface {
	Type() MessageType
	// AppendTo appends the wire form of the message to b. It does not enforce
	// the decoder's limits: senders keep strings ≤ MaxStringLen and data ≤ MaxDataLen.
	AppendTo(b []byte) []byte
}

// Disconnect: 01 | reason u32 | reserved u16 (0).
type Disconnect struct{ Reason DisconnectReason }

// ServiceRequest: 05 | name string.
type ServiceRequest struct{ Name string }

// ServiceAccept: 06 | name string.
type ServiceAccept struct{ Name string }

// UserAuthRequest: 32 | username | service | method [| 00 | password] — the
// password part is present only for method "password".
type UserAuthRequest struct {
	Username string
	Service  string
	Method   string
	Password string
}

// UserAuthFailure: 33 | name-list string | partial-success bool (the standard
// 14-byte form for "password"; §2.3 notes MPS appends one byte too many).
type UserAuthFailure struct {
	Methods        string
	PartialSuccess bool
}

// UserAuthSuccess: 34.
type UserAuthSuccess struct{}

// GlobalRequest: 50 | name | want-reply bool | request-specific tail (§2.3).
// tcpip-forward and cancel-tcpip-forward carry Address and Port; udp-send-to
// also carries the originator and Data. Any other name carries nothing more,
// the way MPS parses it.
type GlobalRequest struct {
	Name              string
	WantReply         bool
	Address           string
	Port              uint32
	OriginatorAddress string
	OriginatorPort    uint32
	Data              []byte
}

// RequestSuccess: 51 | port u32 in reply to tcpip-forward; 51 alone in reply
// to cancel-tcpip-forward (Portless). The wire does not say which: see Decoder.
type RequestSuccess struct {
	Port     uint32
	Portless bool
}

// RequestFailure: 52.
type RequestFailure struct{}

// ChannelOpen: 5A | type | sender u32 | window u32 | reserved u32 | target
// address | target port u32 | originator address | originator port u32.
type ChannelOpen struct {
	ChannelType       string
	SenderChannel     uint32
	InitialWindow     uint32
	Reserved          uint32
	TargetAddress     string
	TargetPort        uint32
	OriginatorAddress string
	OriginatorPort    uint32
}

// ChannelOpenConfirmation: 5B | recipient | sender | window | reserved.
type ChannelOpenConfirmation struct {
	RecipientChannel uint32
	SenderChannel    uint32
	InitialWindow    uint32
	Reserved         uint32
}

// ChannelOpenFailure: 5C | recipient | reason | 0 u32 | 0 u32.
type ChannelOpenFailure struct {
	RecipientChannel uint32
	Reason           OpenFailureReason
}

// ChannelWindowAdjust: 5D | recipient | bytes-to-add.
type ChannelWindowAdjust struct {
	RecipientChannel uint32
	BytesToAdd       uint32
}

// ChannelData: 5E | recipient | length u32 | data. A decoded Data aliases
// the decoder's input buffer.
type ChannelData struct {
	RecipientChannel uint32
	Data             []byte
}

// ChannelClose: 61 | recipient.
type ChannelClose struct{ RecipientChannel uint32 }

// ProtocolVersion: C0 | major | minor | trigger | 16-byte UUID (mixed-endian,
// §2.5) | 64 reserved zero bytes; 93 bytes in all.
type ProtocolVersion struct {
	Major         uint32
	Minor         uint32
	TriggerReason TriggerReason
	UUID          [16]byte
}

// KeepaliveRequest: D0 | cookie.
type KeepaliveRequest struct{ Cookie uint32 }

// KeepaliveReply: D1 | cookie (echoed).
type KeepaliveReply struct{ Cookie uint32 }

// KeepaliveOptionsRequest: D2 | interval seconds | timeout seconds.
type KeepaliveOptionsRequest struct{ Interval, Timeout uint32 }

// KeepaliveOptionsReply: D3 | interval seconds | timeout seconds.
type KeepaliveOptionsReply struct{ Interval, Timeout uint32 }

const protocolVersionReserved = 64

func (Disconnect) Type() MessageType              { return TypeDisconnect }
func (ServiceRequest) Type() MessageType          { return TypeServiceRequest }
func (ServiceAccept) Type() MessageType           { return TypeServiceAccept }
func (UserAuthRequest) Type() MessageType         { return TypeUserAuthRequest }
func (UserAuthFailure) Type() MessageType         { return TypeUserAuthFailure }
func (UserAuthSuccess) Type() MessageType         { return TypeUserAuthSuccess }
func (GlobalRequest) Type() MessageType           { return TypeGlobalRequest }
func (RequestSuccess) Type() MessageType          { return TypeRequestSuccess }
func (RequestFailure) Type() MessageType          { return TypeRequestFailure }
func (ChannelOpen) Type() MessageType             { return TypeChannelOpen }
func (ChannelOpenConfirmation) Type() MessageType { return TypeChannelOpenConfirmation }
func (ChannelOpenFailure) Type() MessageType      { return TypeChannelOpenFailure }
func (ChannelWindowAdjust) Type() MessageType     { return TypeChannelWindowAdjust }
func (ChannelData) Type() MessageType             { return TypeChannelData }
func (ChannelClose) Type() MessageType            { return TypeChannelClose }
func (ProtocolVersion) Type() MessageType         { return TypeProtocolVersion }
func (KeepaliveRequest) Type() MessageType        { return TypeKeepaliveRequest }
func (KeepaliveReply) Type() MessageType          { return TypeKeepaliveReply }
func (KeepaliveOptionsRequest) Type() MessageType { return TypeKeepaliveOptionsRequest }
func (KeepaliveOptionsReply) Type() MessageType   { return TypeKeepaliveOptionsReply }

func (m Disconnect) AppendTo(b []byte) []byte {
	b = append(b, byte(TypeDisconnect))
	b = binary.BigEndian.AppendUint32(b, uint32(m.Reason))
	return binary.BigEndian.AppendUint16(b, 0)
}

func (m ServiceRequest) AppendTo(b []byte) []byte {
	return appendString(append(b, byte(TypeServiceRequest)), m.Name)
}

func (m ServiceAccept) AppendTo(b []byte) []byte {
	return appendString(append(b, byte(TypeServiceAccept)), m.Name)
}

func (m UserAuthRequest) AppendTo(b []byte) []byte {
	b = append(b, byte(TypeUserAuthRequest))
	b = appendString(b, m.Username)
	b = appendString(b, m.Service)
	b = appendString(b, m.Method)
	if m.Method == MethodPassword {
		b = append(b, 0) // change-password flag: always FALSE for AMT (§2.3)
		b = appendString(b, m.Password)
	}
	return b
}

// String keeps the password out of logs and error messages.
func (m UserAuthRequest) String() string {
	return fmt.Sprintf("USERAUTH_REQUEST{user=%q service=%q method=%q password=<redacted>}",
		m.Username, m.Service, m.Method)
}

// GoString keeps the password out of %#v as well.
func (m UserAuthRequest) GoString() string { return m.String() }

func (m UserAuthFailure) AppendTo(b []byte) []byte {
	b = appendString(append(b, byte(TypeUserAuthFailure)), m.Methods)
	return appendBool(b, m.PartialSuccess)
}

func (UserAuthSuccess) AppendTo(b []byte) []byte { return append(b, byte(TypeUserAuthSuccess)) }

func (m GlobalRequest) AppendTo(b []byte) []byte {
	b = appendString(append(b, byte(TypeGlobalRequest)), m.Name)
	b = appendBool(b, m.WantReply)
	switch m.Name {
	case RequestTCPIPForward, RequestCancelTCPIPForward:
		b = appendString(b, m.Address)
		b = binary.BigEndian.AppendUint32(b, m.Port)
	case RequestUDPSendTo:
		b = appendString(b, m.Address)
		b = binary.BigEndian.AppendUint32(b, m.Port)
		b = appendString(b, m.OriginatorAddress)
		b = binary.BigEndian.AppendUint32(b, m.OriginatorPort)
		b = binary.BigEndian.AppendUint32(b, wireLen(len(m.Data)))
		b = append(b, m.Data...)
	}
	return b
}

func (m RequestSuccess) AppendTo(b []byte) []byte {
	b = append(b, byte(TypeRequestSuccess))
	if m.Portless {
		return b
	}
	return binary.BigEndian.AppendUint32(b, m.Port)
}

func (RequestFailure) AppendTo(b []byte) []byte { return append(b, byte(TypeRequestFailure)) }

func (m ChannelOpen) AppendTo(b []byte) []byte {
	b = appendString(append(b, byte(TypeChannelOpen)), m.ChannelType)
	b = appendU32s(b, m.SenderChannel, m.InitialWindow, m.Reserved)
	b = appendString(b, m.TargetAddress)
	b = binary.BigEndian.AppendUint32(b, m.TargetPort)
	b = appendString(b, m.OriginatorAddress)
	return binary.BigEndian.AppendUint32(b, m.OriginatorPort)
}

func (m ChannelOpenConfirmation) AppendTo(b []byte) []byte {
	return appendU32s(append(b, byte(TypeChannelOpenConfirmation)),
		m.RecipientChannel, m.SenderChannel, m.InitialWindow, m.Reserved)
}

func (m ChannelOpenFailure) AppendTo(b []byte) []byte {
	return appendU32s(append(b, byte(TypeChannelOpenFailure)), m.RecipientChannel, uint32(m.Reason), 0, 0)
}

func (m ChannelWindowAdjust) AppendTo(b []byte) []byte {
	return appendU32s(append(b, byte(TypeChannelWindowAdjust)), m.RecipientChannel, m.BytesToAdd)
}

func (m ChannelData) AppendTo(b []byte) []byte {
	b = appendU32s(append(b, byte(TypeChannelData)), m.RecipientChannel, wireLen(len(m.Data)))
	return append(b, m.Data...)
}

func (m ChannelClose) AppendTo(b []byte) []byte {
	return appendU32s(append(b, byte(TypeChannelClose)), m.RecipientChannel)
}

func (m ProtocolVersion) AppendTo(b []byte) []byte {
	b = appendU32s(append(b, byte(TypeProtocolVersion)), m.Major, m.Minor, uint32(m.TriggerReason))
	b = append(b, m.UUID[:]...)
	var reserved [protocolVersionReserved]byte
	return append(b, reserved[:]...)
}

func (m KeepaliveRequest) AppendTo(b []byte) []byte {
	return appendU32s(append(b, byte(TypeKeepaliveRequest)), m.Cookie)
}

func (m KeepaliveReply) AppendTo(b []byte) []byte {
	return appendU32s(append(b, byte(TypeKeepaliveReply)), m.Cookie)
}

func (m KeepaliveOptionsRequest) AppendTo(b []byte) []byte {
	return appendU32s(append(b, byte(TypeKeepaliveOptionsRequest)), m.Interval, m.Timeout)
}

func (m KeepaliveOptionsReply) AppendTo(b []byte) []byte {
	return appendU32s(append(b, byte(TypeKeepaliveOptionsReply)), m.Interval, m.Timeout)
}

// Marshal returns the wire form of m in a new slice.
func Marshal(m Message) []byte { return m.AppendTo(nil) }

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, wireLen(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// wireLen is n as a u32 length prefix. A field longer than 4 GiB cannot be
// framed at all (peers accept far less, §2.1); encoding one is a caller bug,
// so it panics rather than sending a truncated length.
func wireLen(n int) uint32 {
	if n < 0 || n > math.MaxUint32 {
		panic(fmt.Sprintf("apf: field of %d bytes cannot be encoded", n))
	}
	return uint32(n)
}

func appendU32s(b []byte, vs ...uint32) []byte {
	for _, v := range vs {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}
