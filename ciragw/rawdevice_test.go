package ciragw

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/ciragw/apf"
)

// rawDevice is a hand-driven AMT side for scripted and malicious sequences.
type rawDevice struct {
	t    *testing.T
	tg   *testGateway
	conn *tls.Conn
	w    net.Conn // what writes go through (the TLS conn, or a 1-byte writer over it)
	rd   *apf.Reader
}

func dialRaw(t *testing.T, tg *testGateway) *rawDevice {
	t.Helper()
	ca, _ := testPKI()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.RootPEM())
	conn, err := tls.Dial("tcp", tg.addr, &tls.Config{RootCAs: pool, ServerName: certName, MinVersion: tls.VersionTLS12})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	return &rawDevice{t: t, tg: tg, conn: conn, w: conn, rd: apf.NewReader(conn, apf.Decoder{})}
}

func (d *rawDevice) send(ms ...apf.Message) {
	d.t.Helper()
	var b []byte
	for _, m := range ms {
		b = m.AppendTo(b)
	}
	d.write(b)
}

func (d *rawDevice) write(b []byte) {
	d.t.Helper()
	_, err := d.w.Write(b)
	require.NoError(d.t, err)
}

func (d *rawDevice) next() apf.Message {
	d.t.Helper()
	m, err := d.rd.Next()
	require.NoError(d.t, err)
	return m
}

func (d *rawDevice) expect(want apf.Message) {
	d.t.Helper()
	require.Equal(d.t, want, d.next())
}

// expectEnd expects DISCONNECT with reason, then the connection closing.
func (d *rawDevice) expectEnd(reason apf.DisconnectReason) {
	d.t.Helper()
	d.expect(apf.Disconnect{Reason: reason})
	d.expectClosed()
}

func (d *rawDevice) expectClosed() {
	d.t.Helper()
	_, err := d.rd.Next()
	require.Error(d.t, err)
	var ne net.Error
	require.False(d.t, errors.As(err, &ne) && ne.Timeout(), "connection stayed open: %v", err)
}

func versionMsg(guid string) apf.ProtocolVersion {
	u, err := apf.ParseGUID(guid)
	if err != nil {
		panic(err)
	}
	return apf.ProtocolVersion{Major: 1, TriggerReason: apf.TriggerPeriodic, UUID: u}
}

func authMsg(pass string) apf.UserAuthRequest {
	return apf.UserAuthRequest{Username: docUser, Service: apf.ServicePortForward, Method: apf.MethodPassword, Password: pass}
}

func forwardMsg(port uint16) apf.GlobalRequest {
	return apf.GlobalRequest{Name: apf.RequestTCPIPForward, WantReply: true, Port: uint32(port)}
}

// establish runs the handshake of §3 for guid up to one tcpip-forward.
func (d *rawDevice) establish(guid string) {
	d.t.Helper()
	d.send(versionMsg(guid), apf.ServiceRequest{Name: apf.ServiceAuth})
	d.expect(apf.ServiceAccept{Name: apf.ServiceAuth})
	d.send(authMsg(docPass))
	d.expect(apf.UserAuthSuccess{})
	d.send(apf.ServiceRequest{Name: apf.ServicePortForward})
	d.expect(apf.ServiceAccept{Name: apf.ServicePortForward})
	d.send(forwardMsg(apf.PortWSMan))
	d.expect(apf.RequestSuccess{Port: uint32(apf.PortWSMan)})
	// The gateway registers the session right after its reply.
	eventually(d.t, func() bool {
		info, ok := d.tg.Session(guid)
		return ok && info.Remote == d.conn.LocalAddr().String()
	}, "session registered")
}

// oneByteWriter writes every byte in its own Write: over a TLS conn, each
// APF byte becomes its own TLS record.
type oneByteWriter struct{ net.Conn }

func (w oneByteWriter) Write(p []byte) (int, error) {
	for i := range p {
		if _, err := w.Conn.Write(p[i : i+1]); err != nil {
			return i, err
		}
	}
	return len(p), nil
}
