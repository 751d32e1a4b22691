package replica

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/internal/metrics"
	"github.com/dmrm/dm-manager/internal/replica/pb"
	"github.com/dmrm/dm-manager/test/amtsim"
)

const testSecret = "replica-test-secret-0123456789"

// pipeDevices plays the owner's gateway: each channel is a pipe to a simulated device, or to a device behaviour
// the test sets (silent, hanging up after the request).
type pipeDevices struct {
	mu    sync.Mutex
	serve map[string]func(net.Conn)
}

func (g *pipeDevices) set(guid string, serve func(net.Conn)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if serve == nil {
		delete(g.serve, guid)
		return
	}
	g.serve[guid] = serve
}

func (g *pipeDevices) OpenChannel(_ context.Context, guid string, _ uint16) (net.Conn, error) {
	g.mu.Lock()
	serve := g.serve[guid]
	g.mu.Unlock()
	if serve == nil {
		return nil, ciragw.ErrDeviceNotConnected
	}
	ours, theirs := net.Pipe()
	go serve(theirs)
	return ours, nil
}

// owner starts a replica API server over devices on a loopback port and returns its address.
func owner(t testing.TB, devices ChannelOpener, secret string) string {
	t.Helper()
	srv, err := NewServer(devices, secret, zerolog.Nop())
	require.NoError(t, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	g := srv.GRPCServer()
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(srv.Close)
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

// simDevice is an activated amtsim device and a WS-Man client for it that forwards through the replica at addr.
func simDevice(t testing.TB, devices *pipeDevices, c *Client, addr string) (string, *amt.Client) {
	t.Helper()
	return simDeviceWith(t, devices, c, addr, false, nil)
}

// simDeviceWith is simDevice with HTTP keep-alive on or off; opened, when set, gets the device's side of every
// channel the owner opens.
func simDeviceWith(t testing.TB, devices *pipeDevices, c *Client, addr string, keepAlive bool, opened chan<- net.Conn) (string, *amt.Client) {
	t.Helper()
	guid := uuid.NewString()
	sim, err := amtsim.New(amtsim.Config{GUID: guid})
	require.NoError(t, err)
	user, pass := sim.LSA()
	setup, err := wsman.New(wsman.Config{Dialer: wsman.DialerFunc(func(context.Context) (net.Conn, error) {
		ours, theirs := net.Pipe()
		go sim.ServeLocal(theirs)
		return ours, nil
	}), Host: "127.0.0.1:16992", Username: user, Password: pass})
	require.NoError(t, err)
	const password = "Adm1n-P4ss-forwarded"
	require.NoError(t, amt.New(setup).Setup(t.Context(), amt.AdminPasswordHash(sim.DigestRealm(), password)))
	devices.set(guid, func(conn net.Conn) {
		if opened != nil {
			opened <- conn
		}
		sim.ServeConn(conn)
	})
	ws, err := wsman.New(wsman.Config{
		Dialer: wsman.RelayDialer(wsman.ExchangerFunc(func(ctx context.Context, req []byte) ([]byte, error) {
			return c.Exchange(ctx, addr, guid, req)
		})),
		Host: guid + ":16992", Username: "admin", Password: password, DisableKeepAlive: !keepAlive, Timeout: 5 * time.Second,
	})
	require.NoError(t, err)
	return guid, amt.New(ws)
}

// With keep-alive the owner keeps the device's channel open between forwarded exchanges, as its own client does:
// after the digest handshake every read goes over one channel. A kept channel the device closed meanwhile takes
// nothing of the next request, which goes over a new channel.
func TestForwardedExchangesReuseTheChannel(t *testing.T) {
	devices := &pipeDevices{serve: map[string]func(net.Conn){}}
	addr := owner(t, devices, testSecret)
	c, err := NewClient(testSecret, nil)
	require.NoError(t, err)
	defer c.Close()
	opened := make(chan net.Conn, 16)
	_, client := simDeviceWith(t, devices, c, addr, true, opened)
	for range 5 {
		_, err := client.GeneralSettings(t.Context())
		require.NoError(t, err)
	}
	// The first request is answered 401 with Connection: close (§8.2); the authorized ones share the next channel.
	require.Len(t, opened, 2, "channels opened for 5 reads")
	<-opened
	kept := <-opened
	require.NoError(t, kept.Close()) // the device closes the kept channel
	_, err = client.Version(t.Context())
	require.NoError(t, err)
	require.Len(t, opened, 1, "the next request went over a new channel")
}

func TestForwardedReads(t *testing.T) {
	devices := &pipeDevices{serve: map[string]func(net.Conn){}}
	addr := owner(t, devices, testSecret)
	c, err := NewClient(testSecret, nil)
	require.NoError(t, err)
	defer c.Close()
	_, client := simDevice(t, devices, c, addr)
	gs, err := client.GeneralSettings(t.Context())
	require.NoError(t, err)
	require.NotEmpty(t, gs.HostName+gs.DigestRealm)
	_, err = client.Version(t.Context())
	require.NoError(t, err)
}

func TestOutcomes(t *testing.T) {
	devices := &pipeDevices{serve: map[string]func(net.Conn){}}
	addr := owner(t, devices, testSecret)
	c, err := NewClient(testSecret, nil)
	require.NoError(t, err)
	defer c.Close()
	req := []byte("POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
	readReq := func(conn net.Conn) { _, _ = conn.Read(make([]byte, len(req))) }

	for _, tc := range []struct {
		name    string
		serve   func(net.Conn)
		written wsman.Written
		moved   bool
	}{
		{"no session: moved, not written", nil, wsman.NotWritten, true},
		{"device hangs up after the request: possibly written", func(conn net.Conn) { readReq(conn); _ = conn.Close() },
			wsman.PossiblyWritten, false},
		{"device answers half: possibly written", func(conn net.Conn) {
			readReq(conn)
			_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")
			_ = conn.Close()
		}, wsman.PossiblyWritten, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			guid := uuid.NewString()
			devices.set(guid, tc.serve)
			_, err := c.Exchange(t.Context(), addr, guid, req)
			require.Equal(t, tc.written, wsman.WrittenOf(err), "%v", err)
			require.Equal(t, tc.moved, errors.Is(err, ErrMoved), "%v", err)
		})
	}

	t.Run("silent device: the caller's deadline ends the call", func(t *testing.T) {
		guid := uuid.NewString()
		devices.set(guid, func(conn net.Conn) { readReq(conn); time.Sleep(5 * time.Second); _ = conn.Close() })
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Exchange(ctx, addr, guid, req)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Equal(t, wsman.PossiblyWritten, wsman.WrittenOf(err))
		require.Less(t, time.Since(start), 2*time.Second)
	})

	t.Run("replica down: not sent, quickly", func(t *testing.T) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		dead := lis.Addr().String()
		require.NoError(t, lis.Close())
		start := time.Now()
		_, err = c.Exchange(t.Context(), dead, uuid.NewString(), req)
		require.Equal(t, wsman.NotWritten, wsman.WrittenOf(err))
		require.NotErrorIs(t, err, ErrMoved)
		require.Less(t, time.Since(start), connectWait+time.Second)
	})
}

func TestAuthentication(t *testing.T) {
	devices := &pipeDevices{serve: map[string]func(net.Conn){}}
	addr := owner(t, devices, testSecret)
	guid := uuid.NewString()
	req := []byte("POST /wsman HTTP/1.1\r\n\r\n")

	wrong, err := NewClient("another-secret-of-enough-length", nil)
	require.NoError(t, err)
	defer wrong.Close()
	_, err = wrong.Exchange(t.Context(), addr, guid, req)
	require.Equal(t, wsman.NotWritten, wsman.WrittenOf(err))
	require.NotContains(t, err.Error(), testSecret)
	require.NotContains(t, err.Error(), "another-secret")

	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc.Close()
	raw := pb.NewReplicaClient(cc)
	call := func(auth ...string) error {
		ctx := t.Context()
		for _, a := range auth {
			ctx = metadata.AppendToOutgoingContext(ctx, authKey, a)
		}
		_, err := raw.Exchange(ctx, &pb.ExchangeRequest{Guid: guid, Request: req})
		return err
	}
	good := sign([]byte(testSecret), time.Now(), guid, req)
	for name, auth := range map[string][]string{
		"none":            nil,
		"two values":      {good, good},
		"garbage":         {"v1 x y z"},
		"no nonce":        {"v1 1 " + strings.Repeat("ab", 32)},
		"old":             {sign([]byte(testSecret), time.Now().Add(-time.Hour), guid, req)},
		"other request":   {sign([]byte(testSecret), time.Now(), guid, []byte("other"))},
		"other device":    {sign([]byte(testSecret), time.Now(), uuid.NewString(), req)},
		"secret as value": {testSecret},
	} {
		require.Equal(t, codes.Unauthenticated, status.Code(call(auth...)), name)
	}
	require.NoError(t, call(good), "a signed call") // device not connected: answered, not refused
	require.Equal(t, codes.Unauthenticated, status.Code(call(good)), "the same call replayed")
	require.NoError(t, call(sign([]byte(testSecret), time.Now(), guid, req)), "the same request signed again (new nonce)")

	_, err = NewServer(devices, "short", zerolog.Nop())
	require.Error(t, err)
	_, err = NewClient("", nil)
	require.Error(t, err)
}

func TestExchangeRejectsBadInput(t *testing.T) {
	devices := &pipeDevices{serve: map[string]func(net.Conn){}}
	addr := owner(t, devices, testSecret)
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc.Close()
	raw := pb.NewReplicaClient(cc)
	for name, r := range map[string]*pb.ExchangeRequest{
		"guid":  {Guid: "not-a-guid", Request: []byte("x")},
		"port":  {Guid: uuid.NewString(), Request: []byte("x"), Port: 22},
		"empty": {Guid: uuid.NewString()},
	} {
		ctx := metadata.AppendToOutgoingContext(t.Context(), authKey, sign([]byte(testSecret), time.Now(), r.Guid, r.Request))
		_, err := raw.Exchange(ctx, r)
		require.Equal(t, codes.InvalidArgument, status.Code(err), name)
		require.True(t, strings.Contains(status.Convert(err).Message(), name) || name == "empty", status.Convert(err).Message())
	}
	var moved *MovedError
	c, err := NewClient(testSecret, nil)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Exchange(t.Context(), addr, uuid.NewString(), []byte("x"))
	require.True(t, errors.As(err, &moved), "%v", err)
}

func FuzzParseAuth(f *testing.F) {
	f.Add("v1 1700000000 " + strings.Repeat("cd", 16) + " " + strings.Repeat("ab", 32))
	f.Add("v1   ")
	f.Fuzz(func(t *testing.T, v string) {
		at, nonce, sum, err := parseAuth(v)
		if err == nil && (len(sum) != 32 || len(nonce) != nonceLen || !strings.HasPrefix(v, "v1 ")) {
			t.Fatalf("accepted %q: %d %x %x", v, at, nonce, sum)
		}
	})
}

// panicOnce panics on the first OpenChannel for guid, as a bug on the owner's side of a forwarded call might.
type panicOnce struct {
	ChannelOpener
	guid  string
	armed atomic.Bool
}

func (p *panicOnce) OpenChannel(ctx context.Context, guid string, port uint16) (net.Conn, error) {
	if guid == p.guid && p.armed.CompareAndSwap(true, false) {
		panic("injected: owner bug")
	}
	return p.ChannelOpener.OpenChannel(ctx, guid, port)
}

// A panic while serving one forwarded call costs that call only (codes.Internal); the owner serves on.
func TestPanicCostsOneCall(t *testing.T) {
	devices := &pipeDevices{serve: map[string]func(net.Conn){}}
	faulty := &panicOnce{ChannelOpener: devices}
	addr := owner(t, faulty, testSecret)
	c, err := NewClient(testSecret, nil)
	require.NoError(t, err)
	defer c.Close()
	guid, client := simDevice(t, devices, c, addr)
	faulty.guid = guid
	faulty.armed.Store(true)
	before := panicsRecovered(t)

	_, err = client.Version(t.Context())
	require.Error(t, err)
	require.Equal(t, before+1, panicsRecovered(t))
	_, err = client.Version(t.Context())
	require.NoError(t, err, "the next call is served")
}

func panicsRecovered(t *testing.T) float64 {
	t.Helper()
	mfs, err := metrics.NewRegistry().Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == "dm_manager_panics_recovered_total" && m.GetLabel()[0].GetValue() == "grpc" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
