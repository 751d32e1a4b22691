package rps_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/rps"
	"github.com/dmrm/dm-manager/test/amtsim"
)

// validPayload is the §7.1 vector's shape with a device of our own.
func validPayload(guid string) map[string]any {
	return map[string]any{"ver": "16.1.25", "build": "2049", "sku": "16392", "uuid": guid, "username": "$$OsAdmin",
		"password": "KQGnH+N5qJ8YLqjEFJMnGSgcnFLMv0Tk", "currentMode": 0, "fqdn": "", "client": "RPC", "certHashes": nil}
}

func TestFirstMessageRefusals(t *testing.T) {
	e := newEnv(t, nil)
	tenant := newTenant(t, "static")
	guid := "4bac9510-04a6-4321-bae2-d45ddf07b684"
	// with returns the valid payload changed by key/value pairs; a nil value removes the key.
	with := func(kv ...any) string {
		p := validPayload(guid)
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(p, kv[i].(string))
			} else {
				p[kv[i].(string)] = kv[i+1]
			}
		}
		return encodePayload(t, p)
	}
	profile := "activate --profile " + tenant + "_ccm"
	tests := []struct {
		name    string
		method  string
		version string
		payload string
		want    string // exact, or prefix when it ends in "…"
	}{
		{"protocol major", profile, "5.0.0", with(), "protocol version NOT supported: 5.0.0"},
		{"protocol minor", profile, "4.1.0", with(), "protocol version NOT supported: 4.1.0"},
		{"payload not base64", profile, "4.0.0", "!!!", "Failed to parse client message payload. …"},
		{"payload not JSON", profile, "4.0.0", base64.StdEncoding.EncodeToString([]byte("{")), "Failed to parse client message payload. …"},
		{"missing ver", profile, "4.0.0", with("ver", nil), "Invalid payload from client"},
		{"missing client", profile, "4.0.0", with("client", ""), "Invalid payload from client"},
		{"missing uuid", profile, "4.0.0", with("uuid", nil), "Invalid payload from client"},
		{"short uuid", profile, "4.0.0", with("uuid", "4bac9510"), "- uuid not valid length"},
		{"old firmware", profile, "4.0.0", with("ver", "6.2.1"), "Device " + guid +
			" activation failed. AMT version: 6.2.1. Version less than 7 cannot be remotely configured "},
		{"firmware update", profile, "", with("ver", "11.0.0", "build", "2999"), "Device " + guid +
			" activation failed. Please check with your OEM for a firmware update."},
		{"missing password", profile, "4.0.0", with("password", ""), "Device " + guid + " activation failed. Missing password."},
		{"unsupported method", "frobnicate", "4.0.0", with(), "Device " + guid +
			" Not a supported method received from AMT device"},
		{"no profile", "activate", "4.0.0", with(), "Device " + guid +
			" activation failed. No profile given (activate --profile <name>)."},
		{"unknown profile", "activate --profile nope", "4.0.0", with(), "Device " + guid +
			" activation failed. nope does not match list of available AMT profiles."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := dial(t, e.url, nil)
			m := message(tc.method, tc.payload, "")
			m.ProtocolVersion = tc.version
			p.send(m)
			got := p.terminal()
			require.Equal(t, "error", got.Method)
			require.Equal(t, "failed", got.Status)
			switch {
			case strings.HasSuffix(tc.want, "…"):
				require.True(t, strings.HasPrefix(got.Message, strings.TrimSuffix(tc.want, "…")), got.Message)
			case strings.HasPrefix(tc.want, "-"):
				require.Regexp(t, `^[0-9a-f-]{36} `+tc.want+`$`, got.Message)
			default:
				require.Equal(t, tc.want, got.Message)
			}
		})
	}
}

func TestFrameRules(t *testing.T) {
	e := newEnv(t, func(c *rps.Config) { c.FirstMessageTimeout = 300 * time.Millisecond })
	tests := []struct {
		name string
		send func(p *peer)
		want string
	}{{
		name: "oversized frame",
		send: func(p *peer) {
			big := message("activate --profile x", strings.Repeat("A", rps.MaxMessageBytes), "")
			p.send(big)
		},
		want: fmt.Sprintf("rpc-go sent a message larger than %d bytes; the session was stopped", rps.MaxMessageBytes),
	}, {
		name: "binary frame",
		send: func(p *peer) { require.NoError(t, p.ws.WriteMessage(websocket.BinaryMessage, []byte("{}"))) },
		want: "rpc-go sent a binary websocket frame; the protocol uses text frames only",
	}, {
		name: "not JSON",
		send: func(p *peer) { require.NoError(t, p.ws.WriteMessage(websocket.TextMessage, []byte("hello"))) },
		want: "Failed to parse client message payload. invalid character 'h' looking for beginning of value",
	}, {
		name: "nothing sent",
		send: func(*peer) {},
		want: "no command received from rpc-go after the websocket opened",
	}, {
		name: "heartbeats only",
		send: func(p *peer) { p.send(message("heartbeat_response", "", "")) },
		want: "no command received from rpc-go after the websocket opened",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := dial(t, e.url, nil)
			tc.send(p)
			got := p.terminal()
			require.Equal(t, "error", got.Method)
			require.Equal(t, tc.want, statusText(got))
		})
	}
}

// silentPeer starts an activation and never answers a relay.
func silentPeer(t *testing.T, e *env, tenant string, d *amtsim.Device) *peer {
	p := dial(t, e.url, nil)
	p.start(d, "activate --profile "+tenant+"_ccm", "", "")
	require.Equal(t, "wsman", p.read().Method)
	return p
}

func TestDeadlines(t *testing.T) {
	t.Run("step", func(t *testing.T) {
		e := newEnv(t, func(c *rps.Config) { c.StepTimeout = 300 * time.Millisecond })
		tenant := newTenant(t, "static")
		d := e.newDevice(t, tenant, amtsim.Config{})
		got := silentPeer(t, e, tenant, d).terminal()
		require.Equal(t, "error", got.Method)
		require.Equal(t, "Failed to read AMT general settings. (no answer from AMT within 300ms during general_settings; "+
			"check that LMS runs on the host and AMT is enabled)", statusText(got))
		o := e.outcome(t)
		require.False(t, o.OK)
		require.Equal(t, d.GUID().String(), o.GUID)
	})
	t.Run("session", func(t *testing.T) {
		e := newEnv(t, func(c *rps.Config) { c.SessionTimeout = 400 * time.Millisecond })
		tenant := newTenant(t, "static")
		d := e.newDevice(t, tenant, amtsim.Config{})
		got := silentPeer(t, e, tenant, d).terminal()
		require.Equal(t, "Failed to read AMT general settings. (the operation did not finish within 400ms; check the "+
			"device's network and run it again)", statusText(got))
	})
	t.Run("shutdown", func(t *testing.T) {
		e := newEnv(t, nil)
		tenant := newTenant(t, "static")
		d := e.newDevice(t, tenant, amtsim.Config{})
		p := silentPeer(t, e, tenant, d)
		go e.eng.Close()
		require.Equal(t, "Failed to read AMT general settings. (dm-manager is shutting down; run the operation again)",
			statusText(p.terminal()))
	})
}

func TestOneSessionPerDevice(t *testing.T) {
	e := newEnv(t, nil)
	tenant := newTenant(t, "static")
	d := e.newDevice(t, tenant, amtsim.Config{})
	silentPeer(t, e, tenant, d)
	got := e.run(t, d, activate(tenant+"_ccm"))
	require.False(t, got.OK())
	require.Equal(t, "Another session for device "+d.GUID().String()+" is in progress (on replica local); run the "+
		"operation again after it has ended", got.Message)
}

// rpc-go's heartbeat answers and a late answer to an abandoned request must not be taken for the pending one.
func TestRelayIgnoresHeartbeatsAndLateResponses(t *testing.T) {
	e := newEnv(t, nil)
	tenant := newTenant(t, "static")
	d := e.newDevice(t, tenant, amtsim.Config{})
	p := dial(t, e.url, nil)
	p.start(d, "activate --profile "+tenant+"_ccm", "", "")
	late := "<Envelope><Header><b:RelatesTo>999</b:RelatesTo></Header><Body></Body></Envelope>"
	stale := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(late), late)
	got := p.relay(d, func(int) {
		p.send(message("heartbeat_response", "", ""))
		p.send(message("response", base64.StdEncoding.EncodeToString([]byte(stale)), ""))
	})
	require.Equal(t, "success", got.Method, got.Message)
	require.Equal(t, "Client control mode.", statusText(got))
}

func TestBearerToken(t *testing.T) {
	tokens := tokenTenants{}
	e := newEnv(t, func(c *rps.Config) { c.Tokens = tokens })
	tenant, other := newTenant(t, "static"), newTenant(t, "static")
	tokens["good"] = tenant
	bearer := func(tok string) map[string][]string { return map[string][]string{"Authorization": {"Bearer " + tok}} }

	// The token names the tenant; the profile name is free.
	d := e.newDevice(t, tenant, amtsim.Config{})
	p := dial(t, e.url, bearer("good"))
	p.start(d, "activate --profile "+tenant+"_ccm", "", "")
	got := p.relay(d, nil)
	require.Equal(t, "success", got.Method, got.Message)

	d = e.newDevice(t, tenant, amtsim.Config{})
	p = dial(t, e.url, bearer("good"))
	p.start(d, "activate --profile "+tenant+"_ccm", other, "")
	require.Equal(t, "Device "+d.GUID().String()+" activation failed. tenantId "+other+" is not the tenant of the "+
		"bearer token ("+tenant+").", p.terminal().Message)

	p = dial(t, e.url, bearer("bad"))
	p.start(d, "activate --profile "+tenant+"_ccm", "", "")
	require.Equal(t, "Device "+d.GUID().String()+" activation failed. The bearer token was rejected: unknown token",
		p.terminal().Message)
}

type tokenTenants map[string]string

func (m tokenTenants) TenantFromToken(_ context.Context, tok string) (string, error) {
	if t, ok := m[tok]; ok {
		return t, nil
	}
	return "", errors.New("unknown token")
}

// Pings keep ingress idle timers alive while AMT or the post-activation delay keeps the relay quiet.
func TestKeepAlivePings(t *testing.T) {
	e := newEnv(t, func(c *rps.Config) { c.PingInterval, c.StepTimeout = 20*time.Millisecond, 300*time.Millisecond })
	tenant := newTenant(t, "static")
	d := e.newDevice(t, tenant, amtsim.Config{})
	p := silentPeer(t, e, tenant, d)
	pings := 0
	p.ws.SetPingHandler(func(string) error { pings++; return nil })
	require.Equal(t, "error", p.terminal().Method)
	require.GreaterOrEqual(t, pings, 3)
}
