package rpc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dmrm/dm-manager/test/amtsim"
)

// maxPortSwitchDelay is rpc-go's clamp of the port_switch delay (RPC_PORT_SWITCH_MAX_DELAY, §4.3).
const maxPortSwitchDelay = 60 * time.Second

// wire serialises the writes of the session loop and the tunnel reader on one websocket.
type wire struct {
	ws  *websocket.Conn
	mu  sync.Mutex
	res *Result
}

func (w *wire) write(m Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ws.WriteJSON(m)
}

// count updates a Result counter under the write lock (the tunnel reader counts too).
func (w *wire) count(f func(*Result)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f(w.res)
}

// tunnel is rpc-go's TLS tunnel (§1.9): a byte pipe between `tls_data` messages and a plain connection to the
// device's TLS port. Everything read from the device in one read goes back as one `tls_data`; a ClientHello
// reopens the connection; the device closing it is reported as `connection_reset` (payload connection_closed).
type tunnel struct {
	d   *amtsim.Device
	w   *wire
	cfg Config

	mu   sync.Mutex
	conn net.Conn // our end of the current connection, nil when none
	wg   sync.WaitGroup
}

// isClientHello recognises a TLS handshake record carrying a ClientHello (first byte 0x16, byte 5 0x01).
func isClientHello(b []byte) bool { return len(b) > 5 && b[0] == 0x16 && b[5] == 0x01 }

func (t *tunnel) data(payload string) error {
	b, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return fmt.Errorf("rpc: tls_data payload is not base64: %w", err)
	}
	t.w.count(func(r *Result) { r.TLSMessages++ })
	if t.cfg.LMSError && isClientHello(b) {
		t.w.count(func(r *Result) { r.Resets++ })
		return t.w.write(t.message("connection_reset", base64.StdEncoding.EncodeToString([]byte("lms_error"))))
	}
	t.mu.Lock()
	if isClientHello(b) {
		t.reopenLocked()
	}
	conn := t.conn
	t.mu.Unlock()
	// Bytes for a connection the device already closed (the server's close_notify) are lost, as on a socket.
	if conn != nil {
		_, _ = conn.Write(b)
	}
	return nil
}

// reopenLocked drops the current connection without reporting it and opens a new one to port 16993.
func (t *tunnel) reopenLocked() {
	if t.conn != nil {
		_ = t.conn.Close()
	}
	client, server := net.Pipe()
	t.conn = client
	go t.d.ServeLocalTLS(server)
	t.wg.Add(1)
	go t.read(client)
}

// read forwards what the device sends on conn until it closes.
func (t *tunnel) read(conn net.Conn) {
	defer t.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			m := t.message("tls_data", base64.StdEncoding.EncodeToString(buf[:n]))
			if t.w.write(m) != nil {
				return
			}
		}
		if err != nil {
			t.mu.Lock()
			current := t.conn == conn
			if current {
				t.conn = nil
			}
			t.mu.Unlock()
			if current { // the device closed it, not a reopen of ours
				t.w.count(func(r *Result) { r.Resets++ })
				_ = t.w.write(t.message("connection_reset", base64.StdEncoding.EncodeToString([]byte("connection_closed"))))
			}
			return
		}
	}
}

func (t *tunnel) message(method, payload string) Message {
	return Message{Method: method, APIKey: "key", AppVersion: t.cfg.AppVersion, ProtocolVersion: ProtocolVersion,
		Status: "ok", Message: "ok", Payload: payload}
}

// portSwitch waits the delay (clamped to 60 s), re-targets the given port and acknowledges (§1.3). The payload
// is raw JSON, not base64.
func (t *tunnel) portSwitch(ctx context.Context, payload string) error {
	_, delay, err := ParsePortSwitch(payload)
	if err != nil {
		return err
	}
	if t.cfg.IgnorePortSwitch {
		return nil
	}
	select {
	case <-time.After(delay):
	case <-ctx.Done():
		return fmt.Errorf("rpc: %w", ctx.Err())
	}
	t.mu.Lock()
	if t.conn != nil {
		_ = t.conn.Close()
		t.conn = nil
	}
	t.mu.Unlock()
	t.w.count(func(r *Result) { r.PortSwitches++ })
	return t.w.write(t.message("port_switch_ack", base64.StdEncoding.EncodeToString([]byte("ok"))))
}

// close drops the connection and waits for its reader.
func (t *tunnel) close() {
	t.mu.Lock()
	if t.conn != nil {
		_ = t.conn.Close()
		t.conn = nil
	}
	t.mu.Unlock()
	t.wg.Wait()
}

// ParsePortSwitch reads a port_switch payload, raw JSON {"port":"16993","delay":<seconds>} (§1.3): the port must
// be an LMS port (16992 or 16993), the delay is clamped to 0..60 s as rpc-go does.
func ParsePortSwitch(payload string) (port int, delay time.Duration, err error) {
	var ps struct {
		Port  string `json:"port"`
		Delay int    `json:"delay"`
	}
	if err := json.Unmarshal([]byte(payload), &ps); err != nil {
		return 0, 0, fmt.Errorf("rpc: port_switch payload %q: %w", payload, err)
	}
	if port, err = strconv.Atoi(ps.Port); err != nil || (port != 16993 && port != 16992) {
		return 0, 0, fmt.Errorf("rpc: port_switch to port %q: only 16992 and 16993 are LMS ports", ps.Port)
	}
	return port, min(max(time.Duration(ps.Delay), 0)*time.Second, maxPortSwitchDelay), nil
}
