package apfclient

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// The hex below is protocol-cira-wsman §3 and §13, copied byte for byte (spaces as in
// the doc). It is the truth both this codec and ciragw/apf are checked against.
func docHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	require.NoError(t, err)
	return b
}

// TestEncodingMatchesDocVectors: every message the device sends, byte for byte.
func TestEncodingMatchesDocVectors(t *testing.T) {
	uuid, err := smbiosUUID("4c4c4544-004b-4210-8033-b6c04f504633") // §2.5
	require.NoError(t, err)
	tests := []struct {
		name string
		got  frame
		hex  string
	}{
		// §3 has trigger 0 (the MPS simulator); the device itself sends 4 (periodic).
		{"PROTOCOLVERSION (§3)", protocolVersion(uuid, 0),
			"c0 00000001 00000000 00000000 44454c4c4b0010428033b6c04f504633" + strings.Repeat("00", 64)},
		{"SERVICE_REQUEST auth (§3)", serviceRequest(serviceAuth), "05 00000012 6175746840616d742e696e74656c2e636f6d"},
		{"USERAUTH_REQUEST (§3)", userAuthPassword("admin", "P@ssw0rd"),
			"32 00000005 61646d696e 00000012 7066776440616d742e696e74656c2e636f6d 00000008 70617373776f7264 00 00000008 5040737377307264"},
		{"GLOBAL_REQUEST tcpip-forward 16992 (§3)", tcpipForward(16992), "50 0000000d 74637069702d666f7277617264 01 00000000 00004260"},
		{"KEEPALIVE_REQUEST 0x42 (§3)", keepaliveRequest(0x42), "d0 00000042"},
		{"KEEPALIVE_REPLY 0x42 (§3)", keepaliveReply(0x42), "d1 00000042"},
		{"KEEPALIVE_OPTIONS_REPLY (§3, go-wsman)", keepaliveOptionsReply(30, 10), "d3 0000001e 0000000a"},
		{"CHANNEL_OPEN_CONFIRMATION (§13)", openConfirmation(4, 0x10, 4096), "5b 00000004 00000010 00001000 ffffffff"},
		{"CHANNEL_OPEN_FAILURE reason 2 (§13)", openFailure(4, openConnectFailed), "5c 00000004 00000002 00000000 00000000"},
		{"CHANNEL_WINDOW_ADJUST (§13)", windowAdjust(0x10, 0xa001), "5d 00000010 0000a001"},
		{"CHANNEL_DATA POST (§13)", channelData(nil, 0x10, []byte("POST")), "5e 00000010 00000004 504f5354"},
		{"CHANNEL_CLOSE (§13)", channelClose(0x10), "61 00000010"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, docHex(t, tc.hex), []byte(tc.got))
		})
	}
	require.Len(t, tests[0].got, 93, "§2.2: PROTOCOLVERSION is 93 bytes")
	require.Len(t, tests[2].got, 57, "§3: this USERAUTH_REQUEST is 57 bytes")
	require.Len(t, tests[3].got, 27, "§3: this GLOBAL_REQUEST is 27 bytes")
}

// TestDecodingDocVectors: every message the server sends, from the doc's bytes, whole and
// split into one-byte reads (§2.1: a message may span records).
func TestDecodingDocVectors(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		want any
	}{
		{"SERVICE_ACCEPT auth (§3)", "06 00000012 6175746840616d742e696e74656c2e636f6d", serviceAccept{name: serviceAuth}},
		{"USERAUTH_SUCCESS (§3)", "34", authSuccess{}},
		{"USERAUTH_FAILURE standard form (§3)", "33 00000008 70617373776f7264 00", authFailure{methods: methodPassword}},
		{"REQUEST_SUCCESS port 16992 (§3)", "51 00004260", requestSuccess{port: 16992}},
		{"KEEPALIVE_OPTIONS_REQUEST(30,0) (§3)", "d2 0000001e 00000000", keepaliveOptions{interval: 30}},
		{"KEEPALIVE_REQUEST 0x42 (§3)", "d0 00000042", keepaliveReq{cookie: 0x42}},
		{"KEEPALIVE_REPLY 0x42 (§3)", "d1 00000042", keepaliveRep{cookie: 0x42}},
		{"CHANNEL_OPEN as MPS sends it (§13)",
			"5a0000000f666f727761726465642d74637069700000000400014000ffffffff000000000000426000000007312e322e332e3400000400",
			channelOpen{chanType: chanForwarded, sender: 4, window: 81920, reserved: reservedOpen, targetPort: 16992,
				originator: "1.2.3.4", origPt: 1024}},
		{"CHANNEL_WINDOW_ADJUST (§13)", "5d 00000010 0000a001", windowAdjustMsg{recipient: 0x10, n: 0xa001}},
		{"CHANNEL_DATA POST (§13)", "5e 00000010 00000004 504f5354", channelDataMsg{recipient: 0x10, data: []byte("POST")}},
		{"CHANNEL_CLOSE (§13)", "61 00000010", channelCloseMsg{recipient: 0x10}},
		{"DISCONNECT(11) (§13)", "01 0000000b 0000", disconnect{reason: 11}},
	}
	var all []byte
	var want []any
	for _, tc := range tests {
		b := docHex(t, tc.hex)
		all = append(all, b...)
		want = append(want, tc.want)
		t.Run(tc.name, func(t *testing.T) {
			m, err := newInbound(bytes.NewReader(b)).next()
			require.NoError(t, err)
			require.Equal(t, tc.want, m)
		})
	}
	in := newInbound(iotest.OneByteReader(bytes.NewReader(all)))
	for _, w := range want {
		m, err := in.next()
		require.NoError(t, err)
		require.Equal(t, w, m)
	}
	_, err := in.next()
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, "BY_APPLICATION", DisconnectReason(11).String())
}

// TestDecodingRefuses: limits and unknown types (§2.1, §13).
func TestDecodingRefuses(t *testing.T) {
	tests := map[string]struct {
		hex  string
		want error
	}{
		"type the server never sends": {"32 00000000", errMalformed},
		"unknown type":                {"ff", errMalformed},
		"string over 2048":            {"06 00000801", errMalformed},
		"data over 1 MiB":             {"5e 00000010 00100001", errMalformed},
		"truncated inside":            {"5d 00000010 0000", io.ErrUnexpectedEOF},
		"truncated string":            {"06 00000012 6175", io.ErrUnexpectedEOF},
		"empty":                       {"", io.EOF},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := newInbound(bytes.NewReader(docHex(t, tc.hex))).next()
			require.ErrorIs(t, err, tc.want)
		})
	}
	// 1 MiB of data exactly is accepted (§13).
	b := append(docHex(t, "5e 00000010 00100000"), make([]byte, 1<<20)...)
	m, err := newInbound(bytes.NewReader(b)).next()
	require.NoError(t, err)
	require.Len(t, m.(channelDataMsg).data, 1<<20)
}

func TestSMBIOSUUID(t *testing.T) {
	// go-wsman vector (§13): raw 00112233445566778899AABBCCDDEEFF is 33221100-5544-7766-8899-AABBCCDDEEFF.
	u, err := smbiosUUID("33221100-5544-7766-8899-aabbccddeeff")
	require.NoError(t, err)
	require.Equal(t, docHex(t, "00112233445566778899AABBCCDDEEFF"), u[:])
	for _, bad := range []string{"", "nope", "33221100554477668899aabbccddeeff", "33221100-5544-7766-8899-aabbccddeefg",
		"3322110-05544-7766-8899-aabbccddeeff"} {
		_, err := smbiosUUID(bad)
		require.Error(t, err, bad)
	}
}

// FuzzInbound: no input makes the decoder panic, read past its limits or return a
// message together with an error; a message the device also sends re-encodes to the
// same bytes.
func FuzzInbound(f *testing.F) {
	for _, s := range []string{"06 00000012 6175746840616d742e696e74656c2e636f6d", "51 00004260", "d0 00000042",
		"5a0000000f666f727761726465642d74637069700000000400014000ffffffff000000000000426000000007312e322e332e3400000400",
		"5e 00000010 00000004 504f5354", "5d 00000010 0000a001 61 00000010", "01 0000000b 0000", "33 00000008 70617373776f7264 00"} {
		f.Add(docHex(f, s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cr := &countingReader{r: bytes.NewReader(data)}
		in := newInbound(cr)
		for range 64 {
			before := in.r.Buffered()
			start := cr.n - before
			m, err := in.next()
			if err != nil {
				if m != nil {
					t.Fatalf("message %v with error %v", m, err)
				}
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, errMalformed) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			used := data[start : cr.n-in.r.Buffered()]
			var again frame
			switch m := m.(type) {
			case keepaliveReq:
				again = keepaliveRequest(m.cookie)
			case keepaliveRep:
				again = keepaliveReply(m.cookie)
			case windowAdjustMsg:
				again = windowAdjust(m.recipient, m.n)
			case channelDataMsg:
				again = channelData(nil, m.recipient, m.data)
			case channelCloseMsg:
				again = channelClose(m.recipient)
			}
			if again != nil && !bytes.Equal(again, used) {
				t.Fatalf("%T re-encodes to %x, read from %x", m, []byte(again), used)
			}
		}
	})
}

// countingReader counts the bytes the decoder pulled from the stream.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
