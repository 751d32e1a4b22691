package apf

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// unhex decodes a hex vector written with spaces as in the protocol doc.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	require.NoError(t, err)
	return b
}

var dellUUID = [16]byte{0x44, 0x45, 0x4c, 0x4c, 0x4b, 0x00, 0x10, 0x42, 0x80, 0x33, 0xb6, 0xc0, 0x4f, 0x50, 0x46, 0x33}

// docVectors are the hex strings of protocol-cira-wsman §3 and §13, copied
// byte for byte, with the message each one is.
var docVectors = []struct {
	name string
	hex  string
	dec  Decoder
	msg  Message
}{
	{"PROTOCOLVERSION (§3)",
		"c0 00000001 00000000 00000000 44454c4c4b0010428033b6c04f504633" + strings.Repeat("00", 64), Decoder{},
		ProtocolVersion{Major: 1, Minor: 0, TriggerReason: 0, UUID: dellUUID}},
	{"SERVICE_REQUEST auth (§3)", "05 00000012 6175746840616d742e696e74656c2e636f6d", Decoder{},
		ServiceRequest{Name: ServiceAuth}},
	{"SERVICE_ACCEPT auth (§3)", "06 00000012 6175746840616d742e696e74656c2e636f6d", Decoder{},
		ServiceAccept{Name: ServiceAuth}},
	{"USERAUTH_REQUEST (§3)",
		"32 00000005 61646d696e 00000012 7066776440616d742e696e74656c2e636f6d 00000008 70617373776f7264 00 00000008 5040737377307264",
		Decoder{}, UserAuthRequest{Username: "admin", Service: ServicePortForward, Method: MethodPassword, Password: "P@ssw0rd"}},
	{"USERAUTH_SUCCESS (§3)", "34", Decoder{}, UserAuthSuccess{}},
	{"USERAUTH_FAILURE standard form (§3)", "33 00000008 70617373776f7264 00", Decoder{},
		UserAuthFailure{Methods: MethodPassword}},
	{"GLOBAL_REQUEST tcpip-forward 16992 (§3)", "50 0000000d 74637069702d666f7277617264 01 00000000 00004260", Decoder{},
		GlobalRequest{Name: RequestTCPIPForward, WantReply: true, Port: 16992}},
	{"REQUEST_SUCCESS port 16992 (§3)", "51 00004260", Decoder{}, RequestSuccess{Port: 16992}},
	{"REQUEST_SUCCESS for cancel (§2.3)", "51", Decoder{PortlessRequestSuccess: true}, RequestSuccess{Portless: true}},
	{"KEEPALIVE_OPTIONS_REQUEST(30,0) (§3)", "d2 0000001e 00000000", Decoder{},
		KeepaliveOptionsRequest{Interval: 30, Timeout: 0}},
	{"KEEPALIVE_REQUEST 0x42 (§3)", "d0 00000042", Decoder{}, KeepaliveRequest{Cookie: 0x42}},
	{"KEEPALIVE_REPLY 0x42 (§3)", "d1 00000042", Decoder{}, KeepaliveReply{Cookie: 0x42}},
	{"KEEPALIVE_OPTIONS_REPLY go-wsman (§3)", "d3 0000001e 0000000a", Decoder{},
		KeepaliveOptionsReply{Interval: 30, Timeout: 10}},
	{"CHANNEL_OPEN as MPS sends it (§13)",
		"5a0000000f666f727761726465642d74637069700000000400014000ffffffff000000000000426000000007312e322e332e3400000400",
		Decoder{}, ChannelOpen{ChannelType: ChannelForwardedTCPIP, SenderChannel: 4, InitialWindow: 81920,
			Reserved: ReservedOpenField, TargetAddress: "", TargetPort: 16992, OriginatorAddress: "1.2.3.4", OriginatorPort: 1024}},
	{"CHANNEL_OPEN_CONFIRMATION (§13)", "5b 00000004 00000010 00001000 ffffffff", Decoder{},
		ChannelOpenConfirmation{RecipientChannel: 4, SenderChannel: 0x10, InitialWindow: 4096, Reserved: ReservedOpenField}},
	{"CHANNEL_OPEN_FAILURE reason 2 (§13)", "5c 00000004 00000002 00000000 00000000", Decoder{},
		ChannelOpenFailure{RecipientChannel: 4, Reason: OpenConnectFailed}},
	{"CHANNEL_WINDOW_ADJUST (§13)", "5d 00000010 0000a001", Decoder{},
		ChannelWindowAdjust{RecipientChannel: 0x10, BytesToAdd: 0xa001}},
	{"CHANNEL_DATA POST (§13)", "5e 00000010 00000004 504f5354", Decoder{},
		ChannelData{RecipientChannel: 0x10, Data: []byte("POST")}},
	{"CHANNEL_CLOSE (§13)", "61 00000010", Decoder{}, ChannelClose{RecipientChannel: 0x10}},
	{"DISCONNECT(11) (§13)", "01 0000000b 0000", Decoder{}, Disconnect{Reason: DisconnectByApplication}},
}

func TestDocVectorsEncode(t *testing.T) {
	for _, v := range docVectors {
		t.Run(v.name, func(t *testing.T) {
			require.Equal(t, unhex(t, v.hex), Marshal(v.msg))
		})
	}
}

func TestDocVectorsDecode(t *testing.T) {
	for _, v := range docVectors {
		t.Run(v.name, func(t *testing.T) {
			wire := unhex(t, v.hex)
			m, n, err := v.dec.Decode(wire)
			require.NoError(t, err)
			require.Equal(t, len(wire), n)
			require.Equal(t, v.msg, m)
		})
	}
}

// TestDocVectorLengths pins the total lengths the doc states (§2.2, §3, §13).
func TestDocVectorLengths(t *testing.T) {
	want := map[MessageType]int{
		TypeProtocolVersion: 93, TypeUserAuthRequest: 57, TypeGlobalRequest: 27, TypeChannelOpen: 55,
		TypeChannelOpenConfirmation: 17, TypeChannelOpenFailure: 17, TypeChannelWindowAdjust: 9,
		TypeChannelClose: 5, TypeDisconnect: 7, TypeKeepaliveRequest: 5, TypeKeepaliveOptionsRequest: 9,
		TypeUserAuthFailure: 14,
	}
	for _, v := range docVectors {
		if n, ok := want[v.msg.Type()]; ok {
			require.Len(t, unhex(t, v.hex), n, v.name)
		}
	}
}

// TestEveryPrefixNeedsMore cuts every vector at every length: each prefix is
// incomplete (never malformed), and the reported need never overshoots.
func TestEveryPrefixNeedsMore(t *testing.T) {
	for _, v := range docVectors {
		wire := unhex(t, v.hex)
		for cut := 0; cut < len(wire); cut++ {
			_, n, err := v.dec.Decode(wire[:cut])
			require.ErrorIs(t, err, ErrNeedMore, "%s cut at %d", v.name, cut)
			require.Greater(t, n, cut, "%s cut at %d", v.name, cut)
			require.LessOrEqual(t, n, len(wire), "%s cut at %d", v.name, cut)
		}
	}
}

func TestGUIDVectors(t *testing.T) {
	tests := []struct {
		name string
		wire string
		text string
	}{
		{"MPS Dell (§2.5)", "44454C4C4B0010428033B6C04F504633", "4c4c4544-004b-4210-8033-b6c04f504633"},
		{"go-wsman (§13)", "00112233445566778899AABBCCDDEEFF", "33221100-5544-7766-8899-aabbccddeeff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var wire [16]byte
			copy(wire[:], unhex(t, tt.wire))
			require.Equal(t, tt.text, GUIDString(wire))
			back, err := ParseGUID(tt.text)
			require.NoError(t, err)
			require.Equal(t, wire, back)
			upper, err := ParseGUID(strings.ToUpper(tt.text))
			require.NoError(t, err)
			require.Equal(t, wire, upper)
		})
	}
}

func TestParseGUIDRejects(t *testing.T) {
	for _, s := range []string{
		"",
		"00112233445566778899AABBCCDDEEFF",
		"33221100-5544-7766-8899_aabbccddeeff",
		"33221100-5544-7766-8899-aabbccddeefg",
		"33221100-5544-7766-8899-aabbccddeeff0",
	} {
		_, err := ParseGUID(s)
		require.Error(t, err, s)
	}
}
