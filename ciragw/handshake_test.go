package ciragw

import (
	"encoding/hex"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/ciragw/apf"
	"github.com/dmrm/dm-manager/test/amtsim/apfclient"
)

func TestHandshakeWithAPFClient(t *testing.T) {
	plog := newPresenceLog()
	tg := startGateway(t, func(c *Config) {
		c.Presence = plog
		c.PresenceFlushInterval = 20 * time.Millisecond
	})
	events, unsubscribe := tg.Subscribe()
	defer unsubscribe()

	c := startClient(t, tg, docGUID, docPass, nil)
	waitConnected(t, c, 1)

	ev := waitEvent(t, events)
	require.Equal(t, Event{GUID: docGUID, Tenant: tenantA, Kind: Connected, At: ev.At}, ev)
	info, ok := tg.Session(strings.ToUpper(docGUID))
	require.True(t, ok)
	require.Equal(t, tenantA, info.Tenant)
	require.Len(t, tg.Sessions(), 1)
	eventually(t, func() bool {
		p, ok := plog.latest(docGUID)
		return ok && p.State == PresenceConnected && p.Tenant == tenantA
	}, "connected presence written")
	require.Equal(t, 1.0, counter(t, tg.reg, "dm_manager_ciragw_sessions"))
	require.Equal(t, 1.0, counter(t, tg.reg, "dm_manager_ciragw_handshakes_total", "result", "ok"))
}

// docHandshake is the AMT side of the constructed handshake of §3, as hex.
var docHandshake = []string{
	"c0 00000001 00000000 00000000 44454c4c4b0010428033b6c04f504633" + strings.Repeat("00", 64),
	"05 00000012 6175746840616d742e696e74656c2e636f6d",
	"32 00000005 61646d696e 00000012 7066776440616d742e696e74656c2e636f6d 00000008 70617373776f7264 00 00000008 5040737377307264",
	"05 00000012 7066776440616d742e696e74656c2e636f6d",
	"50 0000000d 74637069702d666f7277617264 01 00000000 00004260",
	"d0 00000042",
}

// docReplies is what the gateway must answer, byte for byte (§3).
const docReplies = "06 00000012 6175746840616d742e696e74656c2e636f6d" +
	"34" +
	"06 00000012 7066776440616d742e696e74656c2e636f6d" +
	"51 00004260" +
	"d1 00000042"

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	require.NoError(t, err)
	return b
}

// TestHandshakeDocBytesSplitAndMerged replays the doc's handshake bytes
// merged into one TLS record, and split so that every byte is its own TLS
// record, and checks the gateway's answers byte for byte.
func TestHandshakeDocBytesSplitAndMerged(t *testing.T) {
	tg := startGateway(t)
	var wire []byte
	for _, h := range docHandshake {
		wire = append(wire, unhex(t, h)...)
	}
	want := unhex(t, docReplies)
	for _, split := range []bool{false, true} {
		name := map[bool]string{false: "merged", true: "one byte per record"}[split]
		t.Run(name, func(t *testing.T) {
			d := dialRaw(t, tg)
			if split {
				d.w = oneByteWriter{d.conn}
			}
			d.write(wire)
			got := make([]byte, len(want))
			_, err := io.ReadFull(d.conn, got)
			require.NoError(t, err)
			require.Equal(t, hex.EncodeToString(want), hex.EncodeToString(got))
			_, ok := tg.Session(docGUID)
			require.True(t, ok)
		})
	}
}

func TestLoginRefused(t *testing.T) {
	const other = "33221100-5544-7766-8899-aabbccddeeff"
	tests := []struct {
		name, guid, pass, reason string
	}{
		{"wrong password", docGUID, "wrong", reasonBadCredentials},
		{"unknown GUID", other, docPass, reasonUnknownDevice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := startGateway(t)
			d := dialRaw(t, tg)
			d.send(versionMsg(tt.guid), apf.ServiceRequest{Name: apf.ServiceAuth})
			d.expect(apf.ServiceAccept{Name: apf.ServiceAuth})
			d.send(authMsg(tt.pass))
			// Same answer for both: the standard 14-byte failure, then DISCONNECT.
			d.expect(apf.UserAuthFailure{Methods: apf.MethodPassword})
			d.expectEnd(apf.DisconnectNoMoreAuthMethodsAvailable)
			eventually(t, func() bool {
				return counter(t, tg.reg, "dm_manager_ciragw_auth_failures_total", "reason", tt.reason) == 1
			}, "auth failure counted")
			_, ok := tg.Session(tt.guid)
			require.False(t, ok)
		})
	}
}

func TestAPFClientWrongPassword(t *testing.T) {
	tg := startGateway(t)
	c := startClient(t, tg, docGUID, "wrong", nil)
	ctx := t.Context()
	s, err := c.WaitFor(ctx, func(s apfclient.State) bool { return s.LastError != nil })
	require.NoError(t, err)
	require.ErrorIs(t, s.LastError, apfclient.ErrAuthRefused)
	require.False(t, s.Connected)
}

func TestOutOfOrder(t *testing.T) {
	pfwd := apf.ServiceRequest{Name: apf.ServicePortForward}
	auth := apf.ServiceRequest{Name: apf.ServiceAuth}
	tests := []struct {
		name   string
		before []apf.Message // accepted first, answers skipped
		answer int           // replies to skip
		bad    []byte
		reason apf.DisconnectReason
	}{
		{"userauth before version", nil, 0, apf.Marshal(authMsg(docPass)), apf.DisconnectProtocolError},
		{"service request before version", nil, 0, apf.Marshal(auth), apf.DisconnectProtocolError},
		{"pfwd before auth", []apf.Message{versionMsg(docGUID)}, 0, apf.Marshal(pfwd), apf.DisconnectServiceNotAvailable},
		{"version twice", []apf.Message{versionMsg(docGUID)}, 0, apf.Marshal(versionMsg(docGUID)), apf.DisconnectProtocolError},
		{"tcpip-forward before auth", []apf.Message{versionMsg(docGUID), auth}, 1, apf.Marshal(forwardMsg(16992)), apf.DisconnectProtocolError},
		{"keepalive before auth", []apf.Message{versionMsg(docGUID)}, 0, apf.Marshal(apf.KeepaliveRequest{Cookie: 1}), apf.DisconnectProtocolError},
		{"channel data before established", []apf.Message{versionMsg(docGUID), auth, authMsg(docPass), pfwd}, 3,
			apf.Marshal(apf.ChannelData{RecipientChannel: 1, Data: []byte("x")}), apf.DisconnectProtocolError},
		{"server-only message from device", []apf.Message{versionMsg(docGUID)}, 0, apf.Marshal(apf.UserAuthSuccess{}), apf.DisconnectProtocolError},
		{"unknown service", []apf.Message{versionMsg(docGUID)}, 0, apf.Marshal(apf.ServiceRequest{Name: "ssh-userauth"}), apf.DisconnectServiceNotAvailable},
		{"unknown message type", nil, 0, []byte{0x02, 0, 0, 0, 0}, apf.DisconnectProtocolError},
		{"string over 2048 bytes", nil, 0, unhexT("05 00000801"), apf.DisconnectProtocolError},
		{"password change flag set", []apf.Message{versionMsg(docGUID), auth}, 1,
			unhexT("32 00000005 61646d696e 00000012 7066776440616d742e696e74656c2e636f6d 00000008 70617373776f7264 01"), apf.DisconnectProtocolError},
	}
	tg := startGateway(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := dialRaw(t, tg)
			if len(tt.before) > 0 {
				d.send(tt.before...)
			}
			for range tt.answer {
				d.next()
			}
			d.write(tt.bad)
			d.expectEnd(tt.reason)
		})
	}
	require.Positive(t, counter(t, tg.reg, "dm_manager_ciragw_handshakes_total", "result", "protocol_error"))
}

func unhexT(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func TestOversizedChannelData(t *testing.T) {
	tg := startGateway(t)
	d := dialRaw(t, tg)
	d.establish(docGUID)
	// 1 048 577 announced: refused as soon as the length is visible (§13).
	d.write(unhexT("5e 00000001 00100001"))
	d.expectEnd(apf.DisconnectProtocolError)
}

func TestHandshakeTimeout(t *testing.T) {
	tg := startGateway(t, func(c *Config) { c.HandshakeTimeout = 200 * time.Millisecond })
	d := dialRaw(t, tg)
	d.send(versionMsg(docGUID))
	d.expectEnd(apf.DisconnectConnectionTimedOut)
	eventually(t, func() bool { return counter(t, tg.reg, "dm_manager_ciragw_handshakes_total", "result", "timeout") == 1 }, "timeout counted")
	require.Zero(t, counter(t, tg.reg, "dm_manager_ciragw_pending_handshakes"))
}

func TestIdleTimeoutAndKeepalive(t *testing.T) {
	tg := startGateway(t, func(c *Config) { c.IdleTimeout = 300 * time.Millisecond })
	events, unsubscribe := tg.Subscribe()
	defer unsubscribe()
	d := dialRaw(t, tg)
	d.establish(docGUID)
	require.Equal(t, Connected, waitEvent(t, events).Kind)

	// Keepalives every 100 ms keep the session for well over the idle timeout.
	for cookie := range uint32(8) {
		d.send(apf.KeepaliveRequest{Cookie: cookie})
		d.expect(apf.KeepaliveReply{Cookie: cookie})
		time.Sleep(100 * time.Millisecond) // the device's keepalive period
	}
	_, ok := tg.Session(docGUID)
	require.True(t, ok)
	require.Equal(t, 8.0, counter(t, tg.reg, "dm_manager_ciragw_keepalives_total"))

	// Then silence: the gateway times the session out.
	d.expectEnd(apf.DisconnectConnectionTimedOut)
	require.Equal(t, Disconnected, waitEvent(t, events).Kind)
	_, ok = tg.Session(docGUID)
	require.False(t, ok)
}

func TestKeepaliveOptions(t *testing.T) {
	tests := []struct {
		name  string
		ports []uint16 // after 16992
	}{
		{"after the forward of 5900 (MPS)", []uint16{apf.PortVNC}},
		{"after the 4th forward (console)", []uint16{623, 16994, 16995}},
	}
	tg := startGateway(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := dialRaw(t, tg)
			d.establish(docGUID)
			for _, p := range tt.ports {
				d.send(forwardMsg(p))
				d.expect(apf.RequestSuccess{Port: uint32(p)})
			}
			// MPS's values (§3 step 6, §6).
			d.expect(apf.KeepaliveOptionsRequest{Interval: 30, Timeout: 0})
			d.send(apf.KeepaliveOptionsReply{Interval: 30, Timeout: 0})
			d.send(forwardMsg(664))
			d.expect(apf.RequestSuccess{Port: 664}) // sent once only
		})
	}
}

func TestOtherGlobalRequests(t *testing.T) {
	tg := startGateway(t)
	d := dialRaw(t, tg)
	d.establish(docGUID)
	d.send(apf.GlobalRequest{Name: apf.RequestCancelTCPIPForward, WantReply: true, Port: 623})
	require.Equal(t, unhexT("51"), apf.Marshal(d.nextWith(apf.Decoder{PortlessRequestSuccess: true})))
	d.send(apf.GlobalRequest{Name: apf.RequestUDPSendTo, Address: "a", Port: 1, Data: []byte("x")})
	d.send(apf.GlobalRequest{Name: "unknown@amt.intel.com", WantReply: true})
	d.expect(apf.RequestFailure{})
}

func TestUserAuthNoneProbe(t *testing.T) {
	tg := startGateway(t)
	d := dialRaw(t, tg)
	d.send(versionMsg(docGUID), apf.ServiceRequest{Name: apf.ServiceAuth})
	d.expect(apf.ServiceAccept{Name: apf.ServiceAuth})
	// An SSH-style probe learns the method and may go on.
	d.send(apf.UserAuthRequest{Username: docUser, Service: apf.ServicePortForward, Method: apf.MethodNone})
	d.expect(apf.UserAuthFailure{Methods: apf.MethodPassword})
	d.send(authMsg(docPass))
	d.expect(apf.UserAuthSuccess{})
	require.Equal(t, 1, tg.auth.callCount())
}

func (d *rawDevice) nextWith(dec apf.Decoder) apf.Message {
	d.rd.SetDecoder(dec)
	defer d.rd.SetDecoder(apf.Decoder{})
	return d.next()
}

func TestRateLimitedLogins(t *testing.T) {
	tg := startGateway(t, func(c *Config) {
		c.LoginFailuresPerGUID = RateLimit{Burst: 2, Every: time.Hour}
		c.LoginFailureDelay = 300 * time.Millisecond
	})
	wrong := func() time.Duration {
		d := dialRaw(t, tg)
		start := time.Now()
		d.send(versionMsg(docGUID), apf.ServiceRequest{Name: apf.ServiceAuth}, authMsg("wrong"))
		d.expect(apf.ServiceAccept{Name: apf.ServiceAuth})
		d.expect(apf.UserAuthFailure{Methods: apf.MethodPassword})
		d.expectEnd(apf.DisconnectNoMoreAuthMethodsAvailable)
		return time.Since(start)
	}
	for range 2 {
		wrong()
	}
	// Over the GUID's budget a wrong password is still checked, and answered late.
	require.GreaterOrEqual(t, wrong(), 300*time.Millisecond)
	require.Equal(t, 1.0, counter(t, tg.reg, "dm_manager_ciragw_auth_failures_total", "reason", reasonRateLimitGUID))
	// The right password is checked and let in at once.
	calls := tg.auth.callCount()
	d := dialRaw(t, tg)
	d.establish(docGUID)
	require.Equal(t, calls+1, tg.auth.callCount())
}

func TestAuthBackendError(t *testing.T) {
	tg := startGateway(t)
	tg.auth.setErr(errString("database down"))
	d := dialRaw(t, tg)
	d.send(versionMsg(docGUID), apf.ServiceRequest{Name: apf.ServiceAuth}, authMsg(docPass))
	d.expect(apf.ServiceAccept{Name: apf.ServiceAuth})
	d.expectEnd(apf.DisconnectTemporarilyUnavailable)
}

type errString string

func (e errString) Error() string { return string(e) }

func TestLegacyRSAKeyExchange(t *testing.T) {
	tg := startGateway(t)
	c := startClient(t, tg, docGUID, docPass, nil, func(cfg *apfclient.Config) {
		cfg.CipherSuites = []uint16{0x002f} // TLS_RSA_WITH_AES_128_CBC_SHA (§1.1)
		cfg.MaxTLSVersion = 0x0303
	})
	waitConnected(t, c, 1)
}
