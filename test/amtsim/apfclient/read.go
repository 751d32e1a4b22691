package apfclient

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Messages the server sends to a device (§2.2), as the device reads them.
type (
	serviceAccept    struct{ name string }
	authSuccess      struct{}
	authFailure      struct{ methods string }
	requestSuccess   struct{ port uint32 }
	requestFailure   struct{}
	keepaliveOptions struct{ interval, timeout uint32 }
	keepaliveReq     struct{ cookie uint32 }
	keepaliveRep     struct{ cookie uint32 }
	disconnect       struct{ reason DisconnectReason }
	windowAdjustMsg  struct{ recipient, n uint32 }
	channelDataMsg   struct {
		recipient uint32
		data      []byte
	}
	channelCloseMsg struct{ recipient uint32 }
	channelOpen     struct {
		chanType           string
		sender, window     uint32
		reserved           uint32
		target, originator string
		targetPort, origPt uint32
	}
)

// errMalformed marks bytes that are not an APF message the device accepts.
var errMalformed = errors.New("apfclient: malformed APF message from server")

// inbound reads the server's messages from the TLS stream one field at a time, so a
// message may arrive in any number of records and a record may hold several (§2.1).
type inbound struct {
	r   *bufio.Reader
	u32 [4]byte // fields.u32 reads here: a buffer in fields would move each fields to the heap
}

func newInbound(r io.Reader) *inbound { return &inbound{r: bufio.NewReaderSize(r, 4096)} }

// next returns the next message: io.EOF at a message boundary, io.ErrUnexpectedEOF
// inside one, an errMalformed error for anything else the device refuses.
func (in *inbound) next() (any, error) {
	typ, err := in.r.ReadByte()
	if err != nil {
		return nil, err
	}
	f := fields{r: in.r, buf: &in.u32}
	var m any
	switch typ {
	case msgServiceAccept:
		m = serviceAccept{name: f.str("service name")}
	case msgUserAuthSuccess:
		m = authSuccess{}
	case msgUserAuthFailure:
		methods := f.str("method list")
		f.skip(1) // partial success
		m = authFailure{methods: methods}
	case msgRequestSuccess:
		// The device sends only tcpip-forward, whose reply carries the port (§2.3).
		m = requestSuccess{port: f.u32()}
	case msgRequestFailure:
		m = requestFailure{}
	case msgKeepaliveOptions:
		m = keepaliveOptions{interval: f.u32(), timeout: f.u32()}
	case msgKeepaliveRequest:
		m = keepaliveReq{cookie: f.u32()}
	case msgKeepaliveReply:
		m = keepaliveRep{cookie: f.u32()}
	case msgDisconnect:
		reason := DisconnectReason(f.u32())
		f.skip(2)
		m = disconnect{reason: reason}
	case msgChannelOpen:
		var o channelOpen
		o.chanType = f.str("channel type")
		o.sender, o.window, o.reserved = f.u32(), f.u32(), f.u32()
		o.target = f.str("connected address")
		o.targetPort = f.u32()
		o.originator = f.str("originator address")
		o.origPt = f.u32()
		m = o
	case msgWindowAdjust:
		m = windowAdjustMsg{recipient: f.u32(), n: f.u32()}
	case msgChannelData:
		recipient := f.u32()
		m = channelDataMsg{recipient: recipient, data: f.data()}
	case msgChannelClose:
		m = channelCloseMsg{recipient: f.u32()}
	default:
		return nil, fmt.Errorf("%w: type 0x%02x is not one a server sends to AMT", errMalformed, typ)
	}
	if f.err != nil {
		return nil, f.err
	}
	return m, nil
}

// fields reads the fields of one message; the first error sticks.
type fields struct {
	r   *bufio.Reader
	err error
	buf *[4]byte
}

func (f *fields) read(p []byte) {
	if f.err != nil {
		return
	}
	if _, err := io.ReadFull(f.r, p); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		f.err = err
	}
}

func (f *fields) u32() uint32 {
	f.read(f.buf[:])
	if f.err != nil {
		return 0
	}
	return binary.BigEndian.Uint32(f.buf[:])
}

func (f *fields) skip(n int) {
	if f.err != nil {
		return
	}
	if _, err := f.r.Discard(n); err != nil {
		f.err = io.ErrUnexpectedEOF
	}
}

// lenPrefixed reads a u32 length and that many bytes, refusing lengths over limit. The
// bytes are freshly allocated: a channel keeps them (channel.receive).
func (f *fields) lenPrefixed(limit uint32, what string) []byte {
	n := f.u32()
	if f.err != nil {
		return nil
	}
	if n > limit {
		f.err = fmt.Errorf("%w: %s of %d bytes (limit %d)", errMalformed, what, n, limit)
		return nil
	}
	b := make([]byte, n)
	f.read(b)
	return b
}

func (f *fields) str(what string) string { return string(f.lenPrefixed(maxString, what)) }

func (f *fields) data() []byte { return f.lenPrefixed(maxData, "channel data") }
