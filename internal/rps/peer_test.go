package rps_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/amtsim/rpc"
)

// peer is a hand-driven rpc-go: it sends what a test wants, including what rpc-go never sends, and relays to a
// simulated device when asked.
type peer struct {
	t  *testing.T
	ws *websocket.Conn
}

func dial(t *testing.T, url string, header http.Header) *peer {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(url, header)
	require.NoError(t, err)
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = ws.Close() })
	return &peer{t: t, ws: ws}
}

// message is an envelope with rpc-go's fields (§1.2).
func message(method, payload, tenant string) rpc.Message {
	return rpc.Message{Method: method, APIKey: "key", AppVersion: "test", ProtocolVersion: rpc.ProtocolVersion,
		Status: "ok", Message: "ok", Payload: payload, TenantID: tenant}
}

func encodePayload(t *testing.T, p any) string {
	t.Helper()
	raw, err := json.Marshal(p)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(raw)
}

func (p *peer) send(m rpc.Message) {
	p.t.Helper()
	require.NoError(p.t, p.ws.WriteJSON(m))
}

func (p *peer) read() rpc.Message {
	p.t.Helper()
	require.NoError(p.t, p.ws.SetReadDeadline(time.Now().Add(30*time.Second)))
	var m rpc.Message
	require.NoError(p.t, p.ws.ReadJSON(&m))
	return m
}

// terminal reads until success or error, failing on anything else.
func (p *peer) terminal() rpc.Message {
	p.t.Helper()
	m := p.read()
	require.Contains(p.t, []string{"success", "error"}, m.Method, "message %+v", m)
	return m
}

// activate sends the first message for d as rpc-go would.
func (p *peer) start(d *amtsim.Device, command, tenant, password string) {
	p.t.Helper()
	pl, err := rpc.BuildPayload(d, rpc.Config{Password: password})
	require.NoError(p.t, err)
	p.send(message(command, encodePayload(p.t, pl), tenant))
}

// relay answers wsman requests from d until the terminal message; before(i) may send extra messages ahead of the
// i-th response.
func (p *peer) relay(d *amtsim.Device, before func(i int)) rpc.Message {
	p.t.Helper()
	for i := 0; ; i++ {
		m := p.read()
		if m.Method == "success" || m.Method == "error" {
			return m
		}
		require.Equal(p.t, "wsman", m.Method)
		req, err := base64.StdEncoding.DecodeString(m.Payload)
		require.NoError(p.t, err)
		out, err := rpc.Relay(context.Background(), d, req, 3*time.Second, 100*time.Millisecond)
		require.NoError(p.t, err)
		if before != nil {
			before(i)
		}
		p.send(message("response", base64.StdEncoding.EncodeToString(out), ""))
	}
}

// statusText is Status of a JSON terminal message, or the plain text (how rpc-go reports it, §1.7).
func statusText(m rpc.Message) string {
	var s rpc.StatusObject
	if json.Unmarshal([]byte(m.Message), &s) == nil && s.Status != "" {
		return s.Status
	}
	return m.Message
}
