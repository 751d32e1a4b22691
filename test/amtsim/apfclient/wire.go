package apfclient

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// The device's own APF encoding, written from protocol-cira-wsman §2.3 alone and
// independent of the gateway's codec (ciragw/apf): a mistake made the same way on both
// sides could otherwise pass every test. Both are checked against the doc's hex vectors.

// Message type bytes (§2.2).
const (
	msgDisconnect         = 0x01
	msgServiceRequest     = 0x05
	msgServiceAccept      = 0x06
	msgUserAuthRequest    = 0x32
	msgUserAuthFailure    = 0x33
	msgUserAuthSuccess    = 0x34
	msgGlobalRequest      = 0x50
	msgRequestSuccess     = 0x51
	msgRequestFailure     = 0x52
	msgChannelOpen        = 0x5a
	msgOpenConfirmation   = 0x5b
	msgOpenFailure        = 0x5c
	msgWindowAdjust       = 0x5d
	msgChannelData        = 0x5e
	msgChannelClose       = 0x61
	msgProtocolVersion    = 0xc0
	msgKeepaliveRequest   = 0xd0
	msgKeepaliveReply     = 0xd1
	msgKeepaliveOptions   = 0xd2
	msgKeepaliveOptsReply = 0xd3
)

// Names and codes the device uses (§2.3, §2.4).
const (
	serviceAuth       = "auth@amt.intel.com"
	servicePortFwd    = "pfwd@amt.intel.com"
	methodPassword    = "password"
	requestForward    = "tcpip-forward"
	chanForwarded     = "forwarded-tcpip"
	chanDirect        = "direct-tcpip"
	triggerPeriodic   = 4
	openConnectFailed = 2
	openUnknownType   = 3
	reservedOpen      = 0xffffffff
	portWSMan         = 16992
)

// Limits the device holds the server to (§2.1: MPS's own sanity limits).
const (
	maxString = 2048
	maxData   = 1 << 20
)

// DisconnectReason is the reason code of a server DISCONNECT (§2.4).
type DisconnectReason uint32

var disconnectNames = map[DisconnectReason]string{
	1: "HOST_NOT_ALLOWED_TO_CONNECT", 2: "PROTOCOL_ERROR", 3: "KEY_EXCHANGE_FAILED", 4: "RESERVED",
	5: "MAC_ERROR", 6: "COMPRESSION_ERROR", 7: "SERVICE_NOT_AVAILABLE", 8: "PROTOCOL_VERSION_NOT_SUPPORTED",
	9: "HOST_KEY_NOT_VERIFIABLE", 10: "CONNECTION_LOST", 11: "BY_APPLICATION", 12: "TOO_MANY_CONNECTIONS",
	13: "AUTH_CANCELLED_BY_USER", 14: "NO_MORE_AUTH_METHODS_AVAILABLE", 15: "INVALID_CREDENTIALS",
	16: "CONNECTION_TIMED_OUT", 17: "BY_POLICY", 18: "TEMPORARILY_UNAVAILABLE",
}

func (r DisconnectReason) String() string {
	if n, ok := disconnectNames[r]; ok {
		return n
	}
	return fmt.Sprintf("reason %d", uint32(r))
}

// frame builds one outgoing message; every field is appended big-endian (§2.1).
type frame []byte

// newFrame starts a frame with room for the fixed-size messages, so that building one
// allocates once.
func newFrame(typ byte) frame { return append(make(frame, 0, 32), typ) }

func (f frame) u32(v uint32) frame { return binary.BigEndian.AppendUint32(f, v) }

func (f frame) flag(v bool) frame {
	if v {
		return append(f, 1)
	}
	return append(f, 0)
}

func (f frame) str(s string) frame {
	return append(f.u32(uint32(len(s))), s...) //nolint:gosec // G115: the device's own strings are short
}

// protocolVersion: c0 | major | minor | trigger | UUID (SMBIOS order) | 64 reserved zeros.
func protocolVersion(uuid [16]byte, trigger uint32) frame {
	f := newFrame(msgProtocolVersion).u32(1).u32(0).u32(trigger)
	f = append(f, uuid[:]...)
	return append(f, make([]byte, 64)...)
}

func serviceRequest(name string) frame { return newFrame(msgServiceRequest).str(name) }

// userAuthPassword: 32 | user | service | "password" | FALSE | password.
func userAuthPassword(user, password string) frame {
	return newFrame(msgUserAuthRequest).str(user).str(servicePortFwd).str(methodPassword).flag(false).str(password)
}

// tcpipForward: 50 | "tcpip-forward" | want-reply | address (empty) | port.
func tcpipForward(port uint32) frame {
	return newFrame(msgGlobalRequest).str(requestForward).flag(true).str("").u32(port)
}

func keepaliveRequest(cookie uint32) frame { return newFrame(msgKeepaliveRequest).u32(cookie) }
func keepaliveReply(cookie uint32) frame   { return newFrame(msgKeepaliveReply).u32(cookie) }

func keepaliveOptionsReply(interval, timeout uint32) frame {
	return newFrame(msgKeepaliveOptsReply).u32(interval).u32(timeout)
}

func openConfirmation(recipient, sender, window uint32) frame {
	return newFrame(msgOpenConfirmation).u32(recipient).u32(sender).u32(window).u32(reservedOpen)
}

func openFailure(recipient, reason uint32) frame {
	return newFrame(msgOpenFailure).u32(recipient).u32(reason).u32(0).u32(0)
}

func windowAdjust(recipient, n uint32) frame { return newFrame(msgWindowAdjust).u32(recipient).u32(n) }

// channelData appends CHANNEL_DATA to dst, growing it once: 5e | recipient | length | data.
func channelData(dst frame, recipient uint32, data []byte) frame {
	f := append(slices.Grow(dst, 9+len(data)), msgChannelData)
	f = f.u32(recipient).u32(uint32(len(data))) //nolint:gosec // G115: ≤ maxChunk
	return append(f, data...)
}

func channelClose(recipient uint32) frame { return newFrame(msgChannelClose).u32(recipient) }

// smbiosUUID turns canonical GUID text into the 16 bytes AMT sends, whose first three
// groups are little-endian (§2.5).
func smbiosUUID(text string) ([16]byte, error) {
	var out [16]byte
	raw, err := hex.DecodeString(strings.ReplaceAll(text, "-", ""))
	if err != nil || len(raw) != 16 || len(text) != 36 || strings.Count(text, "-") != 4 ||
		text[8] != '-' || text[13] != '-' || text[18] != '-' || text[23] != '-' {
		return out, fmt.Errorf("apfclient: GUID %q: want 8-4-4-4-12 hex digits", text)
	}
	order := [16]int{3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15}
	for i, j := range order {
		out[i] = raw[j]
	}
	return out, nil
}
