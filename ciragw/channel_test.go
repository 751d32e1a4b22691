package ciragw

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/ciragw/apf"
	"github.com/dmrm/dm-manager/test/amtsim/apfclient"
)

func echo(conn net.Conn) { _, _ = io.Copy(conn, conn) }

// TestChannelLargeEcho carries 1 MiB each way through an echo on the device,
// many times both windows (gateway 32 KiB, device 8 KiB).
func TestChannelLargeEcho(t *testing.T) {
	tg := startGateway(t)
	c := startClient(t, tg, docGUID, docPass, echo)
	waitConnected(t, c, 1)

	conn, err := tg.OpenChannel(t.Context(), docGUID, apf.PortWSMan)
	require.NoError(t, err)
	defer conn.Close()
	require.Equal(t, "apf", conn.RemoteAddr().Network())
	require.Equal(t, docGUID+":16992", conn.RemoteAddr().String())

	payload := make([]byte, 1<<20)
	_, _ = rand.Read(payload)
	werr := make(chan error, 1)
	go func() {
		_, err := conn.Write(payload)
		werr <- err
	}()
	got := make([]byte, len(payload))
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(30*time.Second)))
	_, err = io.ReadFull(conn, got)
	require.NoError(t, err)
	require.NoError(t, <-werr)
	require.True(t, bytes.Equal(payload, got), "echoed bytes differ")
	require.Equal(t, 1.0, counter(t, tg.reg, "dm_manager_ciragw_channels_open"))
	require.NoError(t, conn.Close())
	require.Zero(t, counter(t, tg.reg, "dm_manager_ciragw_channels_open"))
}

// httpDevice answers every HTTP request on the channel with a body of the
// requested size, the way AMT answers WS-Man on 16992 (§8).
func httpDevice(conn net.Conn) {
	br := bufio.NewReader(conn)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		n, _ := strconv.Atoi(req.URL.Query().Get("n"))
		body := bytes.Repeat([]byte("w"), n)
		fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/soap+xml\r\n\r\n", n)
		if _, err := conn.Write(body); err != nil {
			return
		}
	}
}

func TestChannelCarriesHTTP(t *testing.T) {
	tg := startGateway(t)
	c := startClient(t, tg, docGUID, docPass, httpDevice)
	waitConnected(t, c, 1)
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return tg.OpenChannel(ctx, docGUID, apf.PortWSMan)
		},
	}}
	defer client.CloseIdleConnections()
	for _, n := range []int{0, 100, 300_000} {
		resp, err := client.Post("http://"+docGUID+":16992/wsman?n="+strconv.Itoa(n), "application/soap+xml",
			bytes.NewReader(bytes.Repeat([]byte("<x/>"), 20_000)))
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Len(t, body, n)
	}
}

// TestWindowExhaustion: with nobody reading on the other side, a writer
// stops after exactly the peer's window, in both directions, and resumes
// when the reader catches up.
func TestWindowExhaustion(t *testing.T) {
	const deviceWindow = 8192
	release := make(chan struct{})
	deviceWrote := make(chan int, 1)
	deviceGot := make(chan []byte, 1)
	handler := func(conn net.Conn) {
		// Device writes to a gateway side that does not read.
		_ = conn.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := conn.Write(make([]byte, 100_000))
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			n = -1
		}
		deviceWrote <- n
		<-release
		_ = conn.SetWriteDeadline(time.Time{})
		b, _ := io.ReadAll(io.LimitReader(conn, 50_000))
		deviceGot <- b
	}
	tg := startGateway(t)
	c := startClient(t, tg, docGUID, docPass, handler, func(cfg *apfclient.Config) { cfg.Window = deviceWindow })
	waitConnected(t, c, 1)
	conn, err := tg.OpenChannel(t.Context(), docGUID, apf.PortWSMan)
	require.NoError(t, err)
	defer conn.Close()

	// Gateway -> device: the handler is not reading yet.
	require.NoError(t, conn.SetWriteDeadline(time.Now().Add(300*time.Millisecond)))
	n, err := conn.Write(make([]byte, 50_000))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.Equal(t, deviceWindow, n)
	// Device -> gateway: stopped at the gateway's window, nothing buffered beyond.
	require.Equal(t, 32768, <-deviceWrote)

	close(release)
	require.NoError(t, conn.SetWriteDeadline(time.Time{}))
	_, err = conn.Write(make([]byte, 50_000-n))
	require.NoError(t, err)
	require.Len(t, <-deviceGot, 50_000)
	got, err := io.ReadAll(io.LimitReader(conn, 32768))
	require.NoError(t, err)
	require.Len(t, got, 32768)
}

func TestChannelCloseBothWays(t *testing.T) {
	handlerSaw := make(chan error, 1)
	handler := func(conn net.Conn) {
		buf := make([]byte, 16)
		n, err := conn.Read(buf)
		switch {
		case err != nil: // reported: the first read must see the gateway's data
		case string(buf[:n]) == "quit":
			return // returning closes the device end
		default:
			_, err = conn.Read(buf)
		}
		handlerSaw <- err
	}
	tg := startGateway(t)
	c := startClient(t, tg, docGUID, docPass, handler)
	waitConnected(t, c, 1)

	// Gateway closes: the device reads EOF.
	conn, err := tg.OpenChannel(t.Context(), docGUID, apf.PortWSMan)
	require.NoError(t, err)
	_, err = conn.Write([]byte("hello"))
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	require.ErrorIs(t, <-handlerSaw, io.EOF)
	_, err = conn.Read(make([]byte, 1))
	require.ErrorIs(t, err, net.ErrClosed)

	// Device closes: the gateway reads EOF and writes fail.
	conn, err = tg.OpenChannel(t.Context(), docGUID, apf.PortWSMan)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("quit"))
	require.NoError(t, err)
	_, err = conn.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
	eventually(t, func() bool {
		_, err := conn.Write([]byte("x"))
		return errors.Is(err, ErrChannelClosedByDevice)
	}, "write after device close fails")
	info, _ := tg.Session(docGUID)
	require.Zero(t, info.Channels)
}

func TestOpenChannelErrors(t *testing.T) {
	hold := make(chan struct{})
	tg := startGateway(t, func(c *Config) {
		c.MaxChannelsPerDevice = 2
		c.OpenTimeout = 300 * time.Millisecond
	})
	defer close(hold)
	c := startClient(t, tg, docGUID, docPass, func(net.Conn) { <-hold })
	waitConnected(t, c, 1)
	ctx := t.Context()

	_, err := tg.OpenChannel(ctx, "33221100-5544-7766-8899-aabbccddeeff", apf.PortWSMan)
	require.ErrorIs(t, err, ErrDeviceNotConnected)

	// The device refuses ports it does not serve with CONNECT_FAILED.
	_, err = tg.OpenChannel(ctx, docGUID, apf.PortRMCP)
	var oe *OpenError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, apf.OpenConnectFailed, oe.Reason)

	a, err := tg.OpenChannel(ctx, docGUID, apf.PortWSMan)
	require.NoError(t, err)
	b, err := tg.OpenChannel(ctx, docGUID, apf.PortWSMan)
	require.NoError(t, err)
	_, err = tg.OpenChannel(ctx, docGUID, apf.PortWSMan)
	require.ErrorIs(t, err, ErrTooManyChannels)
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = tg.OpenChannel(cctx, docGUID, apf.PortWSMan)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 1.0, counter(t, tg.reg, "dm_manager_ciragw_channel_opens_total", "result", "refused"))
	require.Equal(t, 1.0, counter(t, tg.reg, "dm_manager_ciragw_channel_opens_total", "result", "too_many"))
}

func TestOpenTimeoutAndLateConfirmation(t *testing.T) {
	tg := startGateway(t, func(c *Config) { c.OpenTimeout = 200 * time.Millisecond })
	d := dialRaw(t, tg)
	d.establish(docGUID)
	_, err := tg.OpenChannel(t.Context(), docGUID, apf.PortWSMan)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	// The device answers too late: the gateway closes the channel it gave up on.
	open := d.next().(apf.ChannelOpen)
	require.Equal(t, apf.ChannelOpen{ChannelType: apf.ChannelForwardedTCPIP, SenderChannel: open.SenderChannel,
		InitialWindow: 32768, Reserved: apf.ReservedOpenField, TargetPort: 16992,
		OriginatorAddress: "1.2.3.4", OriginatorPort: 1024}, open)
	d.send(apf.ChannelOpenConfirmation{RecipientChannel: open.SenderChannel, SenderChannel: 77, InitialWindow: 4096})
	d.expect(apf.ChannelClose{RecipientChannel: 77})
}

func TestAMTInitiatedChannelRefused(t *testing.T) {
	tg := startGateway(t)
	d := dialRaw(t, tg)
	d.establish(docGUID)
	d.send(apf.ChannelOpen{ChannelType: apf.ChannelDirectTCPIP, SenderChannel: 9, InitialWindow: 4096,
		Reserved: apf.ReservedOpenField, TargetAddress: "127.0.0.1", TargetPort: 80, OriginatorAddress: "x"})
	d.expect(apf.ChannelOpenFailure{RecipientChannel: 9, Reason: apf.OpenUnknownChannelType})
	// The session survives.
	d.send(apf.KeepaliveRequest{Cookie: 5})
	d.expect(apf.KeepaliveReply{Cookie: 5})
}

// TestDeviceOverrunsWindow: data beyond the advertised window closes that
// channel, not the session.
func TestDeviceOverrunsWindow(t *testing.T) {
	tg := startGateway(t, func(c *Config) { c.ChannelWindow = 1024 })
	d := dialRaw(t, tg)
	d.establish(docGUID)
	opened := make(chan net.Conn, 1)
	go func() {
		conn, err := tg.OpenChannel(context.Background(), docGUID, apf.PortWSMan)
		if err != nil {
			conn = nil
		}
		opened <- conn
	}()
	open := d.next().(apf.ChannelOpen)
	d.send(apf.ChannelOpenConfirmation{RecipientChannel: open.SenderChannel, SenderChannel: 3, InitialWindow: 4096})
	conn := <-opened
	require.NotNil(t, conn)
	defer conn.Close()
	d.send(apf.ChannelData{RecipientChannel: open.SenderChannel, Data: make([]byte, 1025)})
	d.expect(apf.ChannelClose{RecipientChannel: 3})
	_, err := conn.Read(make([]byte, 1))
	require.ErrorContains(t, err, "window")
	d.send(apf.KeepaliveRequest{Cookie: 6})
	d.expect(apf.KeepaliveReply{Cookie: 6})
}
