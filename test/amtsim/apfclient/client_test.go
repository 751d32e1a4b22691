package apfclient

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/dmrm/dm-manager/ciragw/apf"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	guid = "4c4c4544-004b-4210-8033-b6c04f504633"
	user = "admin"
	pass = "P@ssw0rd"
)

// testServer is a scripted CIRA server written from §3 with the APF codec
// only, so the client is checked against the doc rather than the gateway.
type testServer struct {
	ln      net.Listener
	rootPEM []byte
	conns   chan *serverConn
	curves  chan []tls.CurveID // the groups offered in each ClientHello
}

type serverConn struct {
	t    *testing.T
	conn *tls.Conn
	rd   *apf.Reader
}

func newTestServer(t *testing.T) *testServer {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cira.test"}, DNSNames: []string{"cira.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return newTestServerWith(t, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, der)
}

// newTestServerWith serves cert; root is the DER certificate clients should trust.
func newTestServerWith(t *testing.T, cert tls.Certificate, root []byte) *testServer {
	curves := make(chan []tls.CurveID, 4)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert},
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			select {
			case curves <- hello.SupportedCurves:
			default:
			}
			return nil, nil
		},
	})
	require.NoError(t, err)
	s := &testServer{ln: ln, rootPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root}),
		conns: make(chan *serverConn, 4), curves: curves}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tc := c.(*tls.Conn)
			_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
			s.conns <- &serverConn{t: t, conn: tc, rd: apf.NewReader(tc, apf.Decoder{})}
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return s
}

func (s *testServer) accept(t *testing.T) *serverConn {
	select {
	case c := <-s.conns:
		c.t = t
		t.Cleanup(func() { _ = c.conn.Close() })
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("client did not connect")
	}
	return nil
}

func (c *serverConn) expect(want apf.Message) {
	c.t.Helper()
	m, err := c.rd.Next()
	require.NoError(c.t, err)
	require.Equal(c.t, want, m)
}

func (c *serverConn) send(m apf.Message) {
	c.t.Helper()
	_, err := c.conn.Write(apf.Marshal(m))
	require.NoError(c.t, err)
}

func startClient(t *testing.T, s *testServer, handler func(net.Conn)) *Client {
	c, err := New(Config{ServerAddr: s.ln.Addr().String(), RootCA: s.rootPEM, ServerName: "cira.test",
		Username: user, Password: pass, GUID: guid, Handler: handler,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return c
}

// handshake plays the server side of §3 and checks every client message.
func (c *serverConn) handshake() {
	uuid, err := apf.ParseGUID(guid)
	require.NoError(c.t, err)
	c.expect(apf.ProtocolVersion{Major: 1, TriggerReason: apf.TriggerPeriodic, UUID: uuid})
	c.expect(apf.ServiceRequest{Name: apf.ServiceAuth})
	c.send(apf.ServiceAccept{Name: apf.ServiceAuth})
	c.expect(apf.UserAuthRequest{Username: user, Service: apf.ServicePortForward, Method: apf.MethodPassword, Password: pass})
	c.send(apf.UserAuthSuccess{})
	c.expect(apf.ServiceRequest{Name: apf.ServicePortForward})
	c.send(apf.ServiceAccept{Name: apf.ServicePortForward})
	for _, port := range []uint32{16992, 623, 16994, 5900} {
		c.expect(apf.GlobalRequest{Name: apf.RequestTCPIPForward, WantReply: true, Port: port})
		c.send(apf.RequestSuccess{Port: port})
	}
}

func TestClientAgainstScriptedServer(t *testing.T) {
	s := newTestServer(t)
	cl := startClient(t, s, func(conn net.Conn) { _, _ = io.Copy(conn, conn) })
	c := s.accept(t)
	c.handshake()
	_, err := cl.WaitFor(t.Context(), func(st State) bool { return st.Connected && st.Connects == 1 })
	require.NoError(t, err)

	// Keepalive options are echoed and then followed.
	c.send(apf.KeepaliveOptionsRequest{Interval: 1, Timeout: 0})
	c.expect(apf.KeepaliveOptionsReply{Interval: 1, Timeout: 0})
	c.expect(apf.KeepaliveRequest{Cookie: 1})
	c.send(apf.KeepaliveRequest{Cookie: 9})
	c.expect(apf.KeepaliveReply{Cookie: 9})

	// Channels: other ports and types are refused with the §2.3 codes.
	c.send(apf.ChannelOpen{ChannelType: apf.ChannelForwardedTCPIP, SenderChannel: 4, InitialWindow: 100, TargetPort: 623})
	c.expect(apf.ChannelOpenFailure{RecipientChannel: 4, Reason: apf.OpenConnectFailed})
	c.send(apf.ChannelOpen{ChannelType: "session", SenderChannel: 5, InitialWindow: 100, TargetPort: 16992})
	c.expect(apf.ChannelOpenFailure{RecipientChannel: 5, Reason: apf.OpenUnknownChannelType})

	// WS-Man channel: the device honours the server's window of 3 bytes.
	c.send(apf.ChannelOpen{ChannelType: apf.ChannelForwardedTCPIP, SenderChannel: 6, InitialWindow: 3, TargetPort: 16992})
	m, err := c.rd.Next()
	require.NoError(t, err)
	conf := m.(apf.ChannelOpenConfirmation)
	require.Equal(t, uint32(6), conf.RecipientChannel)
	require.Equal(t, uint32(8192), conf.InitialWindow)
	c.send(apf.ChannelData{RecipientChannel: conf.SenderChannel, Data: []byte("hello")})
	c.expect(apf.ChannelData{RecipientChannel: 6, Data: []byte("hel")})
	c.send(apf.ChannelWindowAdjust{RecipientChannel: conf.SenderChannel, BytesToAdd: 10})
	c.expect(apf.ChannelData{RecipientChannel: 6, Data: []byte("lo")})
	c.send(apf.ChannelClose{RecipientChannel: conf.SenderChannel})
	c.expect(apf.ChannelClose{RecipientChannel: 6})

	// DISCONNECT: recorded, then the client comes back.
	c.send(apf.Disconnect{Reason: apf.DisconnectByApplication})
	st, err := cl.WaitFor(t.Context(), func(st State) bool { return !st.Connected })
	require.NoError(t, err)
	require.Equal(t, DisconnectReason(apf.DisconnectByApplication), st.LastDisconnect)
	s.accept(t).handshake()
	_, err = cl.WaitFor(t.Context(), func(st State) bool { return st.Connected && st.Connects == 2 })
	require.NoError(t, err)
}

func TestClientCutAndAuthRefused(t *testing.T) {
	s := newTestServer(t)
	cl := startClient(t, s, nil)
	s.accept(t).handshake()
	_, err := cl.WaitFor(t.Context(), func(st State) bool { return st.Connected })
	require.NoError(t, err)

	cl.Cut(100 * time.Millisecond)
	cut := time.Now()
	c := s.accept(t)
	require.GreaterOrEqual(t, time.Since(cut), 100*time.Millisecond, "no redial during the pause")
	c.expect(apf.ProtocolVersion{Major: 1, TriggerReason: apf.TriggerPeriodic, UUID: mustGUID(t)})
	c.expect(apf.ServiceRequest{Name: apf.ServiceAuth})
	c.send(apf.ServiceAccept{Name: apf.ServiceAuth})
	_, err = c.rd.Next()
	require.NoError(t, err)
	c.send(apf.UserAuthFailure{Methods: apf.MethodPassword})
	st, err := cl.WaitFor(t.Context(), func(st State) bool { return errors.Is(st.LastError, ErrAuthRefused) })
	require.NoError(t, err)
	require.False(t, st.Connected)
	require.Equal(t, 1, st.Connects)
}

// TestClientOffersClassicCurves: like AMT, the simulator offers no
// post-quantum key exchange.
func TestClientOffersClassicCurves(t *testing.T) {
	s := newTestServer(t)
	startClient(t, s, nil)
	s.accept(t).handshake()
	select {
	case got := <-s.curves:
		require.Equal(t, []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384}, got)
	case <-time.After(10 * time.Second):
		t.Fatal("no ClientHello seen")
	}
}

func mustGUID(t *testing.T) [16]byte {
	u, err := apf.ParseGUID(guid)
	require.NoError(t, err)
	return u
}

func TestNewValidates(t *testing.T) {
	_, err := New(Config{ServerAddr: "x:1", GUID: "nope"})
	require.Error(t, err)
	_, err = New(Config{ServerAddr: "x:1", GUID: guid, RootCA: []byte("not a cert")})
	require.Error(t, err)
}
