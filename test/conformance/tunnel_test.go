package conformance

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/amtsim/rpc"
	"github.com/dmrm/dm-manager/test/amtsim/rpc/rpstest"
)

// frameConn carries a TLS client's bytes in tls_data messages of an rpstest session (protocol-rps-activation
// §1.9): a Write is one tls_data, a Read takes tls_data payloads, connection_reset ends the stream.
type frameConn struct {
	s     *rpstest.Session
	buf   []byte
	reset string // connection_reset payload, decoded
}

var _ net.Conn = (*frameConn)(nil)

func (c *frameConn) Write(p []byte) (int, error) {
	return len(p), c.s.Send("tls_data", "", base64.StdEncoding.EncodeToString(p))
}

func (c *frameConn) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		if c.reset != "" {
			return 0, io.EOF
		}
		m, err := c.s.Read()
		if err != nil {
			return 0, err
		}
		b, err := base64.StdEncoding.DecodeString(m.Payload)
		if err != nil {
			return 0, fmt.Errorf("%s payload not base64: %w", m.Method, err)
		}
		switch m.Method {
		case "tls_data":
			c.buf = b
		case "connection_reset":
			c.reset = string(b)
		default:
			return 0, fmt.Errorf("unexpected %s during the tunnel", m.Method)
		}
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

func (c *frameConn) Close() error                     { return nil }
func (c *frameConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *frameConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *frameConn) SetDeadline(time.Time) error      { return nil }
func (c *frameConn) SetReadDeadline(time.Time) error  { return nil }
func (c *frameConn) SetWriteDeadline(time.Time) error { return nil }

// TestTLSTunnelFrames round-trips every frame of the TLS tunnel between the simulated rpc-go and an independent
// server script: heartbeat_request/heartbeat_response, tls_data both ways (a TLS handshake with the device's port
// 16993 and one HTTP exchange inside it), connection_reset when AMT closes, port_switch/port_switch_ack.
func TestTLSTunnelFrames(t *testing.T) {
	d, err := amtsim.New(amtsim.Config{TLSEnforced: true})
	require.NoError(t, err)
	errs := make(chan error, 1)
	srv := rpstest.New(func(s *rpstest.Session) error {
		err := tunnelScript(s, d)
		errs <- err
		if err != nil {
			_ = s.Send("error", err.Error(), "")
			return err
		}
		return s.Send("success", `{"Status":"ok"}`, "")
	})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := rpc.Run(ctx, d, rpc.Config{URL: srv.URL, Command: rpc.ActivateCommand("p", false)})
	require.NoError(t, err)
	require.NoError(t, <-errs)
	require.True(t, res.OK(), res.Message)
	require.Equal(t, 1, res.Heartbeats)
	require.Equal(t, 1, res.PortSwitches)
	require.Equal(t, 1, res.Resets)
	require.Positive(t, res.TLSMessages)
}

func tunnelScript(s *rpstest.Session, d *amtsim.Device) error {
	if !s.Payload.TLSEnforced || s.Payload.Version != "19.0.5" {
		return fmt.Errorf("payload: tlsEnforced %v, ver %q", s.Payload.TLSEnforced, s.Payload.Version)
	}
	if err := s.Send("heartbeat_request", "", ""); err != nil {
		return err
	}
	if m, err := s.Read(); err != nil || m.Method != "heartbeat_response" || m.Status != "success" {
		return fmt.Errorf("heartbeat answered with %+v, %v", m, err)
	}

	fc := &frameConn{s: s}
	tc := tls.Client(fc, &tls.Config{InsecureSkipVerify: true, //nolint:gosec // the certificate is compared below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if string(cs.PeerCertificates[0].Raw) != string(d.TLSCertificate().Raw) {
				return errors.New("not the device's certificate")
			}
			return nil
		}})
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("TLS handshake through tls_data: %w", err)
	}
	body := "<x/>"
	req := "POST /wsman HTTP/1.1\r\nHost: " + s.Payload.UUID + ":16993\r\nContent-Type: application/soap+xml\r\n" +
		"Connection: close\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body
	if _, err := tc.Write([]byte(req)); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		return fmt.Errorf("response inside the tunnel: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusUnauthorized {
		return fmt.Errorf("unauthenticated request answered %d", resp.StatusCode)
	}
	for fc.reset == "" { // AMT closes after the 401: rpc-go reports it
		if _, err := fc.Read(make([]byte, 512)); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
	}
	if fc.reset != "connection_closed" {
		return fmt.Errorf("connection_reset payload %q", fc.reset)
	}

	start := time.Now()
	if err := s.Send("port_switch", "", `{"port":"16993","delay":1}`); err != nil {
		return err
	}
	m, err := s.Read()
	if err != nil || m.Method != "port_switch_ack" || m.Payload != base64.StdEncoding.EncodeToString([]byte("ok")) {
		return fmt.Errorf("port_switch answered with %+v, %v", m, err)
	}
	if time.Since(start) < time.Second {
		return errors.New("port_switch_ack came before the delay")
	}
	return nil
}
