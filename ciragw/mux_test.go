package ciragw

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/ciragw/apf"
)

// pipeLink is a transport on one end of a net.Pipe: no TLS, no handshake.
type pipeLink struct {
	transport
	log zerolog.Logger
}

func (l *pipeLink) event(level zerolog.Level) *zerolog.Event { return l.log.WithLevel(level) }

// newPipeMux returns a mux over a pipeLink.
func newPipeMux(gw net.Conn, window uint32, maxChannels int) *mux {
	m := newMetrics(nil)
	l := &pipeLink{transport: newTransport(gw, gw, 5*time.Second, m), log: zerolog.Nop()}
	x := &mux{}
	x.init(l, &muxConfig{window: window, maxChannels: maxChannels, openTimeout: 5 * time.Second, m: m}, docGUID)
	return x
}

// pipeMux is a mux over net.Pipe: the test plays AMT on the other end, and a
// reader goroutine dispatches AMT's channel messages as the session's serve
// does.
type pipeMux struct {
	x   *mux
	dev net.Conn
	rd  *apf.Reader
}

func startPipeMux(t *testing.T, window uint32) *pipeMux {
	t.Helper()
	gw, dev := net.Pipe()
	x := newPipeMux(gw, window, 2)
	done := make(chan struct{})
	go func() {
		defer close(done)
		rd := apf.NewReader(gw, apf.Decoder{})
		for {
			msg, err := rd.Next()
			if err != nil {
				x.close(err)
				return
			}
			if err := x.dispatch(msg); err != nil {
				x.close(err)
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = dev.Close()
		_ = gw.Close()
		<-done
	})
	return &pipeMux{x: x, dev: dev, rd: apf.NewReader(dev, apf.Decoder{})}
}

// send writes one message as AMT.
func (p *pipeMux) send(t *testing.T, m apf.Message) {
	t.Helper()
	_, err := p.dev.Write(apf.Marshal(m))
	require.NoError(t, err)
}

// next reads the next message the gateway side wrote.
func (p *pipeMux) next(t *testing.T) apf.Message {
	t.Helper()
	require.NoError(t, p.dev.SetReadDeadline(time.Now().Add(5*time.Second)))
	m, err := p.rd.Next()
	require.NoError(t, err)
	return m
}

// open opens a channel to port and answers it as AMT with window; it returns
// the channel and AMT's id for it.
func (p *pipeMux) open(t *testing.T, port uint16, window uint32) (net.Conn, uint32) {
	t.Helper()
	type result struct {
		c   net.Conn
		err error
	}
	res := make(chan result, 1)
	go func() {
		c, err := p.x.openChannel(context.Background(), port)
		res <- result{c, err}
	}()
	op, ok := p.next(t).(apf.ChannelOpen)
	require.True(t, ok, "CHANNEL_OPEN first")
	require.Equal(t, uint32(port), op.TargetPort)
	const amtID = 77
	p.send(t, apf.ChannelOpenConfirmation{RecipientChannel: op.SenderChannel, SenderChannel: amtID, InitialWindow: window})
	r := <-res
	require.NoError(t, r.err)
	return r.c, amtID
}

func TestMuxChannelOverPipe(t *testing.T) {
	p := startPipeMux(t, 16)
	c, amtID := p.open(t, apf.PortWSMan, 8)
	require.Equal(t, 1, p.x.count())
	require.Equal(t, docGUID+":16992", c.RemoteAddr().String())

	// AMT's window of 8 splits a 12-byte write; the rest waits for WINDOW_ADJUST.
	werr := make(chan error, 1)
	go func() { _, err := c.Write([]byte("hello, world")); werr <- err }()
	require.Equal(t, apf.ChannelData{RecipientChannel: amtID, Data: []byte("hello, w")}, p.next(t))
	p.send(t, apf.ChannelWindowAdjust{RecipientChannel: 1, BytesToAdd: 100})
	require.Equal(t, apf.ChannelData{RecipientChannel: amtID, Data: []byte("orld")}, p.next(t))
	require.NoError(t, <-werr)

	// Reading half of our window of 16 gives it back to AMT.
	p.send(t, apf.ChannelData{RecipientChannel: 1, Data: []byte("0123456789")})
	buf := make([]byte, 10)
	rerr := make(chan error, 1)
	go func() { _, err := io.ReadFull(c, buf); rerr <- err }()
	require.Equal(t, apf.ChannelWindowAdjust{RecipientChannel: amtID, BytesToAdd: 10}, p.next(t))
	require.NoError(t, <-rerr)
	require.Equal(t, "0123456789", string(buf))

	// AMT closes: reads end with EOF, writes are refused, and the close is answered once.
	p.send(t, apf.ChannelClose{RecipientChannel: 1})
	require.Equal(t, apf.ChannelClose{RecipientChannel: amtID}, p.next(t))
	_, err := c.Read(buf)
	require.ErrorIs(t, err, io.EOF)
	_, err = c.Write([]byte("x"))
	require.ErrorIs(t, err, ErrChannelClosedByDevice)
	require.NoError(t, c.Close())
	require.Zero(t, p.x.count())
}

func TestMuxOpenRefusedAndLimit(t *testing.T) {
	p := startPipeMux(t, 16)
	errc := make(chan error, 1)
	go func() { _, err := p.x.openChannel(context.Background(), 5900); errc <- err }()
	op := p.next(t).(apf.ChannelOpen)
	p.send(t, apf.ChannelOpenFailure{RecipientChannel: op.SenderChannel, Reason: apf.OpenConnectFailed})
	var oe *OpenError
	require.ErrorAs(t, <-errc, &oe)
	require.Equal(t, apf.OpenConnectFailed, oe.Reason)

	p.open(t, apf.PortWSMan, 8)
	p.open(t, apf.PortWSMan, 8)
	_, err := p.x.openChannel(context.Background(), apf.PortWSMan)
	require.ErrorIs(t, err, ErrTooManyChannels)
}

// AMT overrunning our window costs that channel only.
func TestMuxFlowControlViolation(t *testing.T) {
	p := startPipeMux(t, 4)
	c, amtID := p.open(t, apf.PortWSMan, 8)
	p.send(t, apf.ChannelData{RecipientChannel: 1, Data: []byte("too long")})
	require.Equal(t, apf.ChannelClose{RecipientChannel: amtID}, p.next(t))
	_, err := c.Read(make([]byte, 8))
	require.ErrorContains(t, err, "window")
	c2, amtID2 := p.open(t, apf.PortWSMan, 8)
	cerr := make(chan error, 1)
	go func() { cerr <- c2.Close() }()
	require.Equal(t, apf.ChannelClose{RecipientChannel: amtID2}, p.next(t))
	require.NoError(t, <-cerr)
}

// A confirmation after the opener gave up is answered with CHANNEL_CLOSE.
func TestMuxLateConfirmation(t *testing.T) {
	p := startPipeMux(t, 16)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := p.x.openChannel(ctx, apf.PortWSMan); errc <- err }()
	op := p.next(t).(apf.ChannelOpen)
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	p.send(t, apf.ChannelOpenConfirmation{RecipientChannel: op.SenderChannel, SenderChannel: 9, InitialWindow: 8})
	require.Equal(t, apf.ChannelClose{RecipientChannel: 9}, p.next(t))
}

// The end of the link fails every channel with the session's error and
// refuses new ones.
func TestMuxCloseFailsChannels(t *testing.T) {
	p := startPipeMux(t, 16)
	c, _ := p.open(t, apf.PortWSMan, 8)
	gone := errors.New("link gone")
	p.x.close(gone)
	_, err := c.Read(make([]byte, 1))
	require.ErrorIs(t, err, gone)
	_, err = c.Write([]byte("x"))
	require.ErrorIs(t, err, gone)
	_, err = p.x.openChannel(context.Background(), apf.PortWSMan)
	require.ErrorIs(t, err, ErrDeviceNotConnected)
}

// BenchmarkChannelOpenClose: one channel opened, confirmed by AMT and closed
// again, over a pipe (no TLS), as every WS-Man exchange over CIRA does.
func BenchmarkChannelOpenClose(b *testing.B) {
	gw, dev := net.Pipe()
	x := newPipeMux(gw, 32768, 6)
	go func() { // the session's reader
		rd := apf.NewReader(gw, apf.Decoder{})
		for {
			msg, err := rd.Next()
			if err != nil || x.dispatch(msg) != nil {
				return
			}
		}
	}()
	go func() { // AMT: confirm every open, acknowledge every close
		rd := apf.NewReader(dev, apf.Decoder{})
		for {
			msg, err := rd.Next()
			if err != nil {
				return
			}
			var reply apf.Message
			switch msg := msg.(type) {
			case apf.ChannelOpen:
				reply = apf.ChannelOpenConfirmation{RecipientChannel: msg.SenderChannel, SenderChannel: msg.SenderChannel, InitialWindow: 4096}
			case apf.ChannelClose:
				reply = apf.ChannelClose{RecipientChannel: msg.RecipientChannel}
			}
			if _, err := dev.Write(apf.Marshal(reply)); err != nil {
				return
			}
		}
	}()
	defer func() { _ = dev.Close(); _ = gw.Close() }()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c, err := x.openChannel(ctx, apf.PortWSMan)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// A channel holds a receive buffer only while it has unread data: a shared one of recvBuffer bytes, grown past
// that only by more unread data than it holds.
func TestChannelHoldsReceiveBufferOnlyWithUnreadData(t *testing.T) {
	p := startPipeMux(t, 1<<20)
	c, _ := p.open(t, apf.PortWSMan, 8)
	go func() { // AMT takes the WINDOW_ADJUSTs and the CHANNEL_CLOSE
		for {
			if _, err := p.rd.Next(); err != nil {
				return
			}
		}
	}()
	ch, ok := c.(*channel)
	require.True(t, ok, "%T", c)
	held := func() (bool, int) {
		ch.mu.Lock()
		defer ch.mu.Unlock()
		return ch.buf != nil, cap(ch.buf)
	}
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))

	p.send(t, apf.ChannelData{RecipientChannel: 1, Data: make([]byte, 100)})
	_, err := io.ReadFull(c, make([]byte, 50))
	require.NoError(t, err)
	has, size := held()
	require.True(t, has, "50 bytes unread")
	require.Equal(t, recvBuffer, size)
	_, err = io.ReadFull(c, make([]byte, 50))
	require.NoError(t, err)
	has, _ = held()
	require.False(t, has, "all read")

	for range 3 {
		p.send(t, apf.ChannelData{RecipientChannel: 1, Data: make([]byte, 4000)})
	}
	require.Eventually(t, func() bool { // the mux has taken all three before the first read
		ch.mu.Lock()
		defer ch.mu.Unlock()
		return len(ch.buf)-ch.off == 12000
	}, 5*time.Second, time.Millisecond)
	_, err = io.ReadFull(c, make([]byte, 11999))
	require.NoError(t, err)
	has, size = held()
	require.True(t, has)
	require.Greater(t, size, recvBuffer, "12,000 bytes arrived before the first read")
	_, err = io.ReadFull(c, make([]byte, 1))
	require.NoError(t, err)
	has, _ = held()
	require.False(t, has)

	p.send(t, apf.ChannelData{RecipientChannel: 1, Data: []byte("unread")})
	require.Eventually(t, func() bool { has, _ := held(); return has }, 5*time.Second, time.Millisecond)
	require.NoError(t, c.Close())
	has, _ = held()
	require.False(t, has, "closed")
}
