package rpc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/dmrm/dm-manager/test/amtsim"
)

// ErrClosed is returned when the server closes the socket before a terminal message;
// rpc-go reports this as "rps connection closed unexpectedly" (§4.3).
var ErrClosed = errors.New("rps connection closed unexpectedly")

// ErrMissingPassword is rpc-go's refusal to start without an AMT password on an
// already-provisioned device (exit code 23, §1.5).
var ErrMissingPassword = errors.New("missing or incorrect AMT password: give Config.Password for a provisioned device")

// Config is one rpc-go invocation.
type Config struct {
	URL      string // ws:// or wss:// activation URL
	Command  string // from ActivateCommand, DeactivateCommand or MaintenanceCommand
	TenantID string
	// Password is the AMT admin password (--password); required unless the device is in
	// pre-provisioning, where rpc-go sends the local system account's instead.
	Password     string
	FriendlyName string
	// DNSSuffix overrides the suffix read from AMT, as rpc-go's -d/--dns (§1.5).
	DNSSuffix string
	// IPConfiguration and HostnameInfo are what rpc-go reads from the OS for maintenance --syncip and
	// --synchostname; zero values otherwise (§1.5).
	IPConfiguration IPConfiguration
	HostnameInfo    HostnameInfo
	// Features is the decoded SKU text rpc-go sends; default "AMT Pro Corporate".
	Features   string
	AppVersion string // default "Development Build"
	// Dialer dials the websocket; nil uses a 60 s handshake timeout like rpc-go.
	Dialer *websocket.Dialer
	// FirstByte and IdleGap bound one relay round: rpc-go waits 3 s for AMT's first byte
	// and then reads until EOF or 100 ms without data (§1.6).
	FirstByte time.Duration
	IdleGap   time.Duration
	// IgnorePortSwitch makes the client never acknowledge a port_switch (an rpc-go without the TLS tunnel's
	// port switch), for negative tests.
	IgnorePortSwitch bool
	// LMSError is rpc-go on a host where LMS does not run: it cannot open AMT's TLS port, and answers each
	// ClientHello with `connection_reset` (payload lms_error) instead of relaying it (§1.9), for negative tests.
	LMSError bool
	Log      zerolog.Logger
}

func (c *Config) defaults() {
	if c.Features == "" {
		c.Features = "AMT Pro Corporate"
	}
	if c.AppVersion == "" {
		c.AppVersion = "Development Build"
	}
	if c.Dialer == nil {
		c.Dialer = &websocket.Dialer{HandshakeTimeout: 60 * time.Second, Proxy: websocket.DefaultDialer.Proxy}
	}
	if c.FirstByte == 0 {
		c.FirstByte = 3 * time.Second
	}
	if c.IdleGap == 0 {
		c.IdleGap = 100 * time.Millisecond
	}
}

// BuildPayload is the activation payload rpc-go's createPayload would send for d (§1.5).
func BuildPayload(d *amtsim.Device, cfg Config) (Payload, error) {
	cfg.defaults()
	ver, build, sku := d.Versions()
	mode := d.Mode()
	user, lsaPass := d.LSA()
	pw := cfg.Password
	if mode == amtsim.PreProvisioning {
		pw = lsaPass
	} else if pw == "" {
		return Payload{}, ErrMissingPassword
	}
	hostname := d.Hostname()
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	hashes := d.RootHashes()
	suffix := d.DNSSuffix()
	if cfg.DNSSuffix != "" {
		suffix = cfg.DNSSuffix
	}
	return Payload{
		Version: ver, Build: build, SKU: sku, Features: cfg.Features, UUID: d.GUID().String(),
		Username: user, Password: pw, CurrentMode: int(mode), Hostname: hostname, FQDN: suffix,
		Client: "RPC", CertHashes: hashes, FriendlyName: cfg.FriendlyName, TLSEnforced: d.TLSEnforced(),
		IPConfiguration: cfg.IPConfiguration, HostnameInfo: cfg.HostnameInfo,
	}, nil
}

// Run performs one rpc-go session for d and returns the terminal message.
func Run(ctx context.Context, d *amtsim.Device, cfg Config) (*Result, error) {
	cfg.defaults()
	log := cfg.Log.With().Str("guid", d.GUID().String()).Str("tenant", cfg.TenantID).Logger()
	payload, err := BuildPayload(d, cfg)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(payload) //nolint:gosec // G117: the activation payload carries the password by protocol (§1.5)
	if err != nil {
		return nil, fmt.Errorf("rpc: encode payload: %w", err)
	}
	ws, resp, err := cfg.Dialer.DialContext(ctx, cfg.URL, nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("rpc: dial %s: %w", cfg.URL, err)
	}
	defer ws.Close()
	stop := context.AfterFunc(ctx, func() { _ = ws.Close() })
	defer stop()

	first := Message{
		Method: cfg.Command, APIKey: "key", AppVersion: cfg.AppVersion, ProtocolVersion: ProtocolVersion,
		Status: "ok", Message: "ok", Payload: base64.StdEncoding.EncodeToString(raw), TenantID: cfg.TenantID,
	}
	res := &Result{}
	w := &wire{ws: ws, res: res}
	if err := w.write(first); err != nil {
		return nil, fmt.Errorf("rpc: send %q: %w", firstWord(cfg.Command), err)
	}
	tun := &tunnel{d: d, w: w, cfg: cfg}
	defer tun.close()
	for {
		var m Message
		if err := ws.ReadJSON(&m); err != nil {
			if ctx.Err() != nil {
				return res, fmt.Errorf("rpc: %w", ctx.Err())
			}
			var ce *websocket.CloseError
			if errors.As(err, &ce) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
				return res, ErrClosed
			}
			return res, fmt.Errorf("rpc: read: %w", err)
		}
		switch m.Method {
		case "success", "error":
			w.mu.Lock()
			defer w.mu.Unlock()
			res.Method, res.Status, res.Message, res.StatusObject = m.Method, m.Status, m.Message, parseStatus(m.Message)
			log.Info().Str("result", m.Method).Str("status", res.Text()).Int("exchanges", res.Exchanges).Msg("rpc session ended")
			return res, nil
		case "heartbeat_request":
			w.count(func(r *Result) { r.Heartbeats++ })
			m.Method, m.Status = "heartbeat_response", "success"
			if err := w.write(m); err != nil {
				return res, fmt.Errorf("rpc: heartbeat: %w", err)
			}
		case "tls_data", "port_switch":
			if !d.TLSEnforced() {
				return res, fmt.Errorf("rpc: server sent %s, but the simulated device does not enforce TLS (tlsEnforced=false)", m.Method)
			}
			var err error
			if m.Method == "tls_data" {
				err = tun.data(m.Payload)
			} else {
				err = tun.portSwitch(ctx, m.Payload)
			}
			if err != nil {
				return res, err
			}
		default:
			// rpc-go relays "wsman" and any method it does not recognise to AMT (§1.3).
			if err := relayOne(ctx, w, d, m, cfg); err != nil {
				return res, err
			}
		}
	}
}

func relayOne(ctx context.Context, w *wire, d *amtsim.Device, m Message, cfg Config) error {
	req, err := base64.StdEncoding.DecodeString(m.Payload)
	if err != nil {
		return fmt.Errorf("rpc: %s payload is not base64: %w", m.Method, err)
	}
	w.count(func(r *Result) { r.Exchanges++ })
	out, err := Relay(ctx, d, req, cfg.FirstByte, cfg.IdleGap)
	if err != nil {
		return err
	}
	if len(out) == 0 {
		return nil // quiet round: nothing within the first-byte window, nothing sent back
	}
	reply := Message{
		Method: "response", APIKey: "key", AppVersion: cfg.AppVersion, ProtocolVersion: ProtocolVersion,
		Status: "ok", Message: "ok", Payload: base64.StdEncoding.EncodeToString(out),
	}
	if err := w.write(reply); err != nil {
		return fmt.Errorf("rpc: send response: %w", err)
	}
	return nil
}

// Relay writes one raw HTTP request to the device's host-side (LMS) WS-Man server on a
// fresh in-memory connection and returns every byte read until EOF or until idleGap
// passes without data; nothing within firstByte gives an empty result (§1.6).
func Relay(ctx context.Context, d *amtsim.Device, req []byte, firstByte, idleGap time.Duration) ([]byte, error) {
	client, server := net.Pipe()
	defer client.Close()
	go d.ServeLocal(server)
	go func() { _, _ = client.Write(req) }()
	var out []byte
	buf := make([]byte, 4096)
	deadline := time.Now().Add(firstByte)
	for {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("rpc: relay: %w", ctx.Err())
		}
		_ = client.SetReadDeadline(deadline)
		n, err := client.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			var ne net.Error
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || (errors.As(err, &ne) && ne.Timeout()) {
				return out, nil
			}
			return out, fmt.Errorf("rpc: relay read: %w", err)
		}
		deadline = time.Now().Add(idleGap)
	}
}

func firstWord(cmd string) string {
	for i, r := range cmd {
		if r == ' ' {
			return cmd[:i]
		}
	}
	return cmd
}
