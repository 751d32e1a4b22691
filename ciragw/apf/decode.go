package apf

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Limits enforced while decoding, before anything is allocated (§2.1: MPS
// closes the connection on a longer string or a larger CHANNEL_DATA).
const (
	MaxStringLen = 2048
	MaxDataLen   = 1 << 20
	// MaxMessageLen bounds every decodable message: the largest is a
	// CHANNEL_DATA carrying MaxDataLen bytes.
	MaxMessageLen = 9 + MaxDataLen
)

// ErrNeedMore means the input holds the beginning of a valid message but not
// all of it. It is never returned together with a *MalformedError.
var ErrNeedMore = errors.New("apf: incomplete message, need more bytes")

// MalformedError means the input cannot be the start of a valid message: the
// connection must be closed (there is no length prefix to resynchronise on,
// §2.1).
type MalformedError struct {
	Type   MessageType
	Offset int // offset from the type byte where decoding failed
	Reason string
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("apf: malformed %s at offset %d: %s", e.Type, e.Offset, e.Reason)
}

// Decoder decodes one message at a time from the front of a byte slice.
type Decoder struct {
	// PortlessRequestSuccess decodes REQUEST_SUCCESS as the 1-byte reply to
	// cancel-tcpip-forward instead of the 5-byte reply to tcpip-forward. Only
	// the side that sent the GLOBAL_REQUEST can know which one comes (§2.3).
	PortlessRequestSuccess bool
}

// Decode decodes the message at the front of b with the default Decoder.
func Decode(b []byte) (Message, int, error) { return Decoder{}.Decode(b) }

// Decode decodes the message at the front of b.
//   - On success it returns the message and the number of bytes it used.
//   - On ErrNeedMore, n is the least total length b must reach before another
//     call can make progress; every length field seen so far is within limits,
//     so n ≤ MaxMessageLen.
//   - On *MalformedError, n is 0.
//
// A decoded ChannelData.Data and GlobalRequest.Data alias b.
func (d Decoder) Decode(b []byte) (m Message, n int, err error) {
	if len(b) == 0 {
		return nil, 1, ErrNeedMore
	}
	c := cursor{b: b, off: 1, typ: MessageType(b[0])}
	m = d.decode(&c)
	switch {
	case c.err != nil:
		return nil, 0, c.err
	case c.need > 0:
		return nil, c.need, ErrNeedMore
	}
	return m, c.off, nil
}

func (d Decoder) decode(c *cursor) Message {
	switch c.typ {
	case TypeDisconnect:
		r := DisconnectReason(c.u32())
		c.take(2)
		return box(c, Disconnect{Reason: r})
	case TypeServiceRequest:
		return box(c, ServiceRequest{Name: c.str("service name")})
	case TypeServiceAccept:
		return box(c, ServiceAccept{Name: c.str("service name")})
	case TypeUserAuthRequest:
		return decodeUserAuthRequest(c)
	case TypeUserAuthFailure:
		return box(c, UserAuthFailure{Methods: c.str("method list"), PartialSuccess: c.bool()})
	case TypeUserAuthSuccess:
		return UserAuthSuccess{}
	case TypeGlobalRequest:
		return decodeGlobalRequest(c)
	case TypeRequestSuccess:
		if d.PortlessRequestSuccess {
			return RequestSuccess{Portless: true}
		}
		return box(c, RequestSuccess{Port: c.u32()})
	case TypeRequestFailure:
		return RequestFailure{}
	case TypeChannelOpen:
		return decodeChannelOpen(c)
	case TypeChannelOpenConfirmation:
		return box(c, ChannelOpenConfirmation{RecipientChannel: c.u32(), SenderChannel: c.u32(),
			InitialWindow: c.u32(), Reserved: c.u32()})
	case TypeChannelOpenFailure:
		v := ChannelOpenFailure{RecipientChannel: c.u32(), Reason: OpenFailureReason(c.u32())}
		c.take(8)
		return box(c, v)
	case TypeChannelWindowAdjust:
		return box(c, ChannelWindowAdjust{RecipientChannel: c.u32(), BytesToAdd: c.u32()})
	case TypeChannelData:
		return box(c, ChannelData{RecipientChannel: c.u32(), Data: c.bytes(MaxDataLen, "channel data")})
	case TypeChannelClose:
		return box(c, ChannelClose{RecipientChannel: c.u32()})
	case TypeProtocolVersion:
		v := ProtocolVersion{Major: c.u32(), Minor: c.u32(), TriggerReason: TriggerReason(c.u32())}
		copy(v.UUID[:], c.take(16))
		c.take(protocolVersionReserved)
		return box(c, v)
	case TypeKeepaliveRequest:
		return box(c, KeepaliveRequest{Cookie: c.u32()})
	case TypeKeepaliveReply:
		return box(c, KeepaliveReply{Cookie: c.u32()})
	case TypeKeepaliveOptionsRequest:
		return box(c, KeepaliveOptionsRequest{Interval: c.u32(), Timeout: c.u32()})
	case TypeKeepaliveOptionsReply:
		return box(c, KeepaliveOptionsReply{Interval: c.u32(), Timeout: c.u32()})
	}
	c.fail(0, "unknown message type")
	return nil
}

// box turns a decoded value into a Message only when decoding completed, so
// that an incomplete message costs no allocation.
func box[T Message](c *cursor, v T) Message {
	if c.stopped() {
		return nil
	}
	return v
}

func decodeUserAuthRequest(c *cursor) Message {
	m := UserAuthRequest{Username: c.str("username"), Service: c.str("service name"), Method: c.str("method name")}
	if m.Method == MethodPassword {
		at := c.off
		if flag := c.u8(); flag != 0 {
			c.fail(at, "password change flag is not FALSE")
		}
		m.Password = c.str("password")
	}
	return box(c, m)
}

func decodeGlobalRequest(c *cursor) Message {
	m := GlobalRequest{Name: c.str("request name"), WantReply: c.bool()}
	switch m.Name {
	case RequestTCPIPForward, RequestCancelTCPIPForward:
		m.Address = c.str("address")
		m.Port = c.u32()
	case RequestUDPSendTo:
		m.Address = c.str("address")
		m.Port = c.u32()
		m.OriginatorAddress = c.str("originator address")
		m.OriginatorPort = c.u32()
		m.Data = c.bytes(MaxStringLen, "datagram")
	}
	return box(c, m)
}

func decodeChannelOpen(c *cursor) Message {
	return box(c, ChannelOpen{
		ChannelType:       c.str("channel type"),
		SenderChannel:     c.u32(),
		InitialWindow:     c.u32(),
		Reserved:          c.u32(),
		TargetAddress:     c.str("target address"),
		TargetPort:        c.u32(),
		OriginatorAddress: c.str("originator address"),
		OriginatorPort:    c.u32(),
	})
}

// cursor reads fields in order. The first short field records how many bytes
// are needed and turns every later read into a no-op, so decoders read their
// layout straight through without checking after each field.
type cursor struct {
	b    []byte
	off  int
	typ  MessageType
	need int
	err  *MalformedError
}

func (c *cursor) stopped() bool { return c.need > 0 || c.err != nil }

func (c *cursor) fail(at int, reason string) {
	if !c.stopped() {
		c.err = &MalformedError{Type: c.typ, Offset: at, Reason: reason}
	}
}

func (c *cursor) take(n int) []byte {
	if c.stopped() {
		return nil
	}
	if len(c.b)-c.off < n {
		c.need = c.off + n
		return nil
	}
	p := c.b[c.off : c.off+n : c.off+n]
	c.off += n
	return p
}

func (c *cursor) u8() byte {
	if p := c.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (c *cursor) bool() bool { return c.u8() != 0 }

func (c *cursor) u32() uint32 {
	if p := c.take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

// bytes reads a u32-length-prefixed field, rejecting a length over limit as
// soon as the length is visible, before waiting for or copying the body.
func (c *cursor) bytes(limit uint32, what string) []byte {
	at := c.off
	n := c.u32()
	if c.stopped() {
		return nil
	}
	if n > limit {
		c.fail(at, fmt.Sprintf("%s length %d exceeds limit %d", what, n, limit))
		return nil
	}
	return c.take(int(n))
}

func (c *cursor) str(what string) string { return string(c.bytes(MaxStringLen, what)) }
