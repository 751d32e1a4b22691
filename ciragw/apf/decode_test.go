package apf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

func TestDecodeMalformed(t *testing.T) {
	tests := []struct {
		name   string
		hex    string
		typ    MessageType
		offset int
	}{
		{"unknown type 0x00", "00", 0, 0},
		{"unknown type 0x02", "02 00000000", 2, 0},
		{"MPS 15-byte USERAUTH_FAILURE leaves a stray 0x00 (§2.3)", "00", 0, 0},
		{"service name 2049 bytes, body absent", "05 00000801", TypeServiceRequest, 1},
		{"channel type 4 GiB", "5a ffffffff", TypeChannelOpen, 1},
		{"CHANNEL_DATA 1048577 bytes (§13), body absent", "5e 00000010 00100001", TypeChannelData, 5},
		{"password change flag not FALSE (§13)",
			"32 00000005 61646d696e 00000012 7066776440616d742e696e74656c2e636f6d 00000008 70617373776f7264 01",
			TypeUserAuthRequest, 44},
		{"udp-send-to datagram over the string limit",
			"50 00000019 7564702d73656e642d746f40616d742e696e74656c2e636f6d 00 00000000 00000000 00000000 00000000 00000801",
			TypeGlobalRequest, 47},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, n, err := Decode(unhex(t, tt.hex))
			require.Nil(t, m)
			require.Zero(t, n)
			require.False(t, errors.Is(err, ErrNeedMore))
			var me *MalformedError
			require.ErrorAs(t, err, &me)
			require.Equal(t, tt.typ, me.Type)
			require.Equal(t, tt.offset, me.Offset)
		})
	}
}

// TestChannelDataLimit: 1 048 576 bytes is accepted, 1 048 577 is not (§13),
// and the need reported for the largest one is exact.
func TestChannelDataLimit(t *testing.T) {
	hdr := binary.BigEndian.AppendUint32(unhex(t, "5e 00000010"), MaxDataLen)
	_, n, err := Decode(hdr)
	require.ErrorIs(t, err, ErrNeedMore)
	require.Equal(t, MaxMessageLen, n)

	full := append(hdr, make([]byte, MaxDataLen)...)
	m, n, err := Decode(full)
	require.NoError(t, err)
	require.Equal(t, MaxMessageLen, n)
	require.Len(t, m.(ChannelData).Data, MaxDataLen)
}

// TestDecodeDoesNotAllocateForAnnouncedLengths: an announced length costs
// nothing until its bytes are there.
func TestDecodeDoesNotAllocateForAnnouncedLengths(t *testing.T) {
	hdr := unhex(t, "5e 00000010 00100000 0102")
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err := Decode(hdr); !errors.Is(err, ErrNeedMore) {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}

// stream is every doc vector decodable with the default decoder, back to back.
func stream(t testing.TB) ([]byte, []Message) {
	var wire []byte
	var msgs []Message
	for _, v := range docVectors {
		if v.dec != (Decoder{}) {
			continue
		}
		wire = append(wire, unhex(t, v.hex)...)
		msgs = append(msgs, v.msg)
	}
	return wire, msgs
}

// chunkReader returns at most the next chunk size from sizes on each Read.
type chunkReader struct {
	r   io.Reader
	rnd *rand.Rand
	max int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	n := 1 + c.rnd.IntN(c.max)
	return c.r.Read(p[:min(n, len(p))])
}

func TestReaderSplitAndMerged(t *testing.T) {
	wire, msgs := stream(t)
	readers := map[string]func() io.Reader{
		"merged in one read": func() io.Reader { return bytes.NewReader(wire) },
		"split byte by byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(wire)) },
		"random split points": func() io.Reader {
			return &chunkReader{r: bytes.NewReader(wire), rnd: rand.New(rand.NewPCG(1, 2)), max: 40}
		},
		"half reads": func() io.Reader { return iotest.HalfReader(bytes.NewReader(wire)) },
	}
	for name, mk := range readers {
		t.Run(name, func(t *testing.T) {
			r := NewReader(mk(), Decoder{})
			for i, want := range msgs {
				got, err := r.Next()
				require.NoError(t, err, "message %d", i)
				require.Equal(t, want, got, "message %d", i)
			}
			_, err := r.Next()
			require.ErrorIs(t, err, io.EOF)
		})
	}
}

func TestReaderErrors(t *testing.T) {
	t.Run("EOF inside a message", func(t *testing.T) {
		r := NewReader(bytes.NewReader(unhex(t, "d0 0000")), Decoder{})
		_, err := r.Next()
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	})
	t.Run("malformed after a good message", func(t *testing.T) {
		r := NewReader(iotest.OneByteReader(bytes.NewReader(unhex(t, "d0 00000042 05 00000801"))), Decoder{})
		m, err := r.Next()
		require.NoError(t, err)
		require.Equal(t, KeepaliveRequest{Cookie: 0x42}, m)
		_, err = r.Next()
		var me *MalformedError
		require.ErrorAs(t, err, &me)
	})
	t.Run("underlying error", func(t *testing.T) {
		r := NewReader(iotest.ErrReader(io.ErrClosedPipe), Decoder{})
		_, err := r.Next()
		require.ErrorIs(t, err, io.ErrClosedPipe)
	})
}

// TestReaderBufferBounded: a large message's buffer is released after use, and
// an announced-but-unsent large message costs what was sent, not what was
// announced.
func TestReaderBufferBounded(t *testing.T) {
	big := Marshal(ChannelData{RecipientChannel: 1, Data: bytes.Repeat([]byte{7}, 200_000)})
	wire := append(big, Marshal(KeepaliveRequest{Cookie: 1})...)
	r := NewReader(bytes.NewReader(wire), Decoder{})
	m, err := r.Next()
	require.NoError(t, err)
	require.Len(t, m.(ChannelData).Data, 200_000)
	_, err = r.Next()
	require.NoError(t, err)
	require.LessOrEqual(t, cap(r.buf), smallBuffer)

	hdr := unhex(t, "5e 00000010 00100000"+strings.Repeat("00", 100))
	r = NewReader(bytes.NewReader(hdr), Decoder{})
	_, err = r.Next()
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.LessOrEqual(t, cap(r.buf), 2*smallBuffer, "109 bytes sent, 1 MiB announced")
}

func TestRoundTripAllTypes(t *testing.T) {
	msgs := []Message{
		GlobalRequest{Name: RequestCancelTCPIPForward, WantReply: true, Address: "host", Port: 623},
		GlobalRequest{Name: RequestUDPSendTo, Address: "a", Port: 1, OriginatorAddress: "b", OriginatorPort: 2, Data: []byte("dg")},
		GlobalRequest{Name: "other@amt.intel.com", WantReply: true},
		UserAuthRequest{Username: "u", Service: ServicePortForward, Method: MethodNone},
		UserAuthFailure{Methods: MethodPassword, PartialSuccess: true},
		RequestFailure{},
		ChannelData{RecipientChannel: 9, Data: []byte{}},
	}
	for _, m := range msgs {
		got, n, err := Decode(Marshal(m))
		require.NoError(t, err, "%v", m.Type())
		require.Equal(t, len(Marshal(m)), n)
		require.Equal(t, m, got)
	}
}

func TestUserAuthRequestRedactsPassword(t *testing.T) {
	m := UserAuthRequest{Username: "admin", Service: ServicePortForward, Method: MethodPassword, Password: "P@ssw0rd"}
	for _, s := range []string{m.String(), m.GoString()} {
		require.NotContains(t, s, "P@ssw0rd")
		require.Contains(t, s, "admin")
	}
}

func TestCodeNames(t *testing.T) {
	require.Equal(t, "PROTOCOL_ERROR", DisconnectProtocolError.String())
	require.Equal(t, "UNKNOWN_CHANNEL_TYPE", OpenUnknownChannelType.String())
	require.Equal(t, "CHANNEL_OPEN_CONFIRMATION", TypeChannelOpenConfirmation.String())
	require.Equal(t, "PERIODIC", TriggerPeriodic.String())
	require.Equal(t, "UNKNOWN(99)", DisconnectReason(99).String())
}

// notYetReader hands out its chunks one per Read with errNotYet between them,
// as a source that never waits does.
type notYetReader struct {
	chunks [][]byte
	ready  bool
}

var errNotYet = errors.New("nothing yet")

func (r *notYetReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	if !r.ready {
		r.ready = true
		return 0, errNotYet
	}
	r.ready = false
	n := copy(p, r.chunks[0])
	r.chunks = r.chunks[1:]
	return n, nil
}

func TestReaderRetry(t *testing.T) {
	ka := Marshal(KeepaliveRequest{Cookie: 7})
	src := &notYetReader{chunks: [][]byte{ka[:3], ka[3:], Marshal(KeepaliveRequest{Cookie: 8})}}
	r := NewReader(src, Decoder{})
	_, err := r.Next()
	require.ErrorIs(t, err, errNotYet)
	r.Retry()
	_, err = r.Next() // reads the first 3 bytes, then nothing yet: they are kept
	require.ErrorIs(t, err, errNotYet)
	r.Retry()
	require.Equal(t, 3, r.end-r.start)
	m, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, KeepaliveRequest{Cookie: 7}, m)

	_, err = r.Next() // nothing yet, nothing undecoded: the buffer goes
	require.ErrorIs(t, err, errNotYet)
	r.Retry()
	require.Nil(t, r.buf)
	m, err = r.Next()
	require.NoError(t, err)
	require.Equal(t, KeepaliveRequest{Cookie: 8}, m)
	_, err = r.Next()
	require.ErrorIs(t, err, io.EOF)
}

// Readers share their larger buffers: each message is whole and its own until the next Next, however the
// readers' calls interleave, and a reader between messages holds at most smallBuffer.
func TestReadersShareLargeBuffers(t *testing.T) {
	msg := func(reader, i int) ChannelData {
		return ChannelData{RecipientChannel: uint32(i), Data: bytes.Repeat([]byte{byte(reader*16 + i)}, 3000+i*500)}
	}
	var readers [3]*Reader
	for k := range readers {
		var wire []byte
		for i := range 8 {
			wire = append(wire, Marshal(msg(k, i))...)
			wire = append(wire, Marshal(KeepaliveRequest{Cookie: uint32(i)})...)
		}
		src := &chunkReader{r: bytes.NewReader(wire), rnd: rand.New(rand.NewPCG(uint64(k), 9)), max: 1500}
		readers[k] = NewReader(src, Decoder{})
	}
	for i := range 8 {
		for k, r := range readers {
			got, err := r.Next()
			require.NoError(t, err)
			require.Equal(t, msg(k, i), got, "reader %d message %d", k, i)
		}
		for k, r := range readers {
			got, err := r.Next()
			require.NoError(t, err)
			require.Equal(t, KeepaliveRequest{Cookie: uint32(i)}, got, "reader %d keepalive %d", k, i)
		}
	}
	for _, r := range readers {
		_, err := r.Next()
		require.ErrorIs(t, err, io.EOF)
		require.LessOrEqual(t, cap(r.buf), smallBuffer)
	}
}
