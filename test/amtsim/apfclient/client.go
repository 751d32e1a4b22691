// Package apfclient is the AMT side of CIRA for the simulated device: it
// dials the gateway over TLS the way AMT firmware does (protocol-cira-wsman
// §3), keeps the session alive, serves the channels the server opens to
// port 16992 with a handler, and reconnects with backoff when the link drops.
// It shares no code with the gateway: its APF encoding (wire.go, read.go) is its own,
// checked against the protocol doc's hex vectors.
package apfclient

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Config is what AMT's CIRA settings hold (§1.2) plus simulator knobs.
type Config struct {
	// ServerAddr is the gateway's host:port (AddMpServer AccessInfo + Port).
	ServerAddr string
	// RootCA is the only root trusted, PEM or DER (AddTrustedRootCertificate).
	RootCA []byte
	// ServerName must equal the server certificate's subject common name, as AMT
	// matches it (§1.2); default: ServerAddr's host.
	ServerName string
	// Username and Password are the CIRA credentials (AuthMethod 2).
	Username string
	Password string
	// GUID is the device identity in canonical text form.
	GUID string
	// Handler serves each channel the server opens to port 16992 (WS-Man);
	// the channel is closed when it returns. Nil refuses those channels too.
	Handler func(conn net.Conn)
	// Ports are announced with tcpip-forward, in order (default 16992, 623,
	// 16994, 5900 like the MPS test simulator, §3 step 6).
	Ports []uint16
	// KeepaliveInterval is used until the server sends its options (default 30s).
	KeepaliveInterval time.Duration
	// Window is the receive window advertised per channel (default 8192).
	Window uint32
	// MinBackoff and MaxBackoff bound the reconnect delay (default 1s, 1m).
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// HandshakeTimeout bounds dial + TLS + APF handshake (default 15s).
	HandshakeTimeout time.Duration
	// LocalAddr is the source IP to dial from, so that a load test can spread
	// thousands of links over several loopback addresses; empty: the system's choice.
	LocalAddr string
	// CipherSuites and MaxTLSVersion emulate older firmware when set.
	CipherSuites  []uint16
	MaxTLSVersion uint16
	// CryptoHardened is the CIRA client of AMT 22's CSME crypto hardening (DMT's "AMT 22 support"
	// ADR): it offers no AES-128 suite and no P-256 group, and refuses a server certificate whose key
	// is RSA under 3072 bits or EC under P-384. It speaks TLS 1.2 unless MaxTLSVersion says otherwise,
	// because Go's TLS 1.3 client always offers TLS_AES_128_GCM_SHA256.
	CryptoHardened bool
	Logger         zerolog.Logger
}

// State is what the client can tell about its link.
type State struct {
	Connected      bool             // handshake done, session up
	Connects       int              // handshakes completed so far
	Attempts       int              // connection attempts so far
	LastError      error            // why the last attempt or session ended
	LastDisconnect DisconnectReason // reason of the server's last DISCONNECT, 0 if none
}

// classicCurves are the key exchange groups the simulated AMT offers.
var classicCurves = []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384}

// hardenedCurves and hardenedSuites are what a crypto-hardened AMT 22 offers: no ECC-256, no AES-128.
var (
	hardenedCurves = []tls.CurveID{tls.CurveP384}
	hardenedSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_RSA_WITH_AES_256_GCM_SHA384}
)

// ErrAuthRefused is the server's USERAUTH_FAILURE.
var ErrAuthRefused = errors.New("apfclient: CIRA login refused by the server")

// Client is one simulated AMT's CIRA client.
type Client struct {
	cfg     Config
	uuid    [16]byte
	tlsConf *tls.Config
	log     zerolog.Logger

	mu          sync.Mutex
	state       State
	changed     chan struct{} // closed and replaced on every state change
	cur         net.Conn      // the live TCP connection, for Cut
	pausedUntil time.Time
	cut         chan struct{} // wakes a backoff wait on Cut
}

// New validates cfg and returns a Client; Run starts it.
func New(cfg Config) (*Client, error) {
	uuid, err := smbiosUUID(cfg.GUID)
	if err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(cfg.ServerAddr)
	if err != nil {
		return nil, fmt.Errorf("apfclient: server address %q: %w", cfg.ServerAddr, err)
	}
	if cfg.LocalAddr != "" && net.ParseIP(cfg.LocalAddr) == nil {
		return nil, fmt.Errorf("apfclient: local address %q is not an IP address", cfg.LocalAddr)
	}
	pool, err := rootPool(cfg.RootCA)
	if err != nil {
		return nil, err
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if len(cfg.Ports) == 0 {
		cfg.Ports = []uint16{portWSMan, 623, 16994, 5900}
	}
	if cfg.KeepaliveInterval <= 0 {
		cfg.KeepaliveInterval = 30 * time.Second
	}
	if cfg.Window == 0 {
		cfg.Window = 8192
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(time.Minute, cfg.MinBackoff)
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 15 * time.Second
	}
	curves := classicCurves
	if cfg.CryptoHardened {
		curves = hardenedCurves
		if cfg.CipherSuites == nil {
			cfg.CipherSuites = hardenedSuites
		}
		if cfg.MaxTLSVersion == 0 {
			cfg.MaxTLSVersion = tls.VersionTLS12
		}
	}
	return &Client{
		cfg:  cfg,
		uuid: uuid,
		tlsConf: &tls.Config{
			// AMT does not apply a browser's hostname rules: verifyServer checks the
			// chain against the trusted root and the CN against the configured name.
			InsecureSkipVerify: true, //nolint:gosec // G402: verification is VerifyConnection's (verifyServer)
			VerifyConnection:   verifyServer(pool, cfg.ServerName, cfg.CryptoHardened),
			ServerName:         cfg.ServerName,
			MinVersion:         tls.VersionTLS12,
			MaxVersion:         cfg.MaxTLSVersion,
			CipherSuites:       cfg.CipherSuites,
			// AMT firmware offers classic ECDHE groups only; Go's default
			// would add a post-quantum ML-KEM share, which no device sends and
			// which grows the ClientHello and both sides' handshake CPU.
			CurvePreferences: curves,
		},
		log:     cfg.Logger.With().Str("guid", cfg.GUID).Logger(),
		changed: make(chan struct{}),
		cut:     make(chan struct{}, 1),
	}, nil
}

// verifyServer checks the server's chain up to the trusted root, then matches name
// against the leaf's subject common name (case-insensitively, a trailing dot ignored);
// a hardened client then checks the leaf's key strength.
// Subject alternative names play no part: MPS's own certificate has only URI SANs
// (§1.2), and AMT connects to it. The handshake's own signature check (the server holds
// the leaf's key) is crypto/tls's, on every connection.
func verifyServer(root *trustedRoot, name string, hardened bool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("apfclient: the CIRA server sent no certificate")
		}
		leaf := cs.PeerCertificates[0]
		if err := root.verify(cs.PeerCertificates); err != nil {
			return fmt.Errorf("apfclient: CIRA server certificate %q does not chain to the trusted root "+
				"(AddTrustedRootCertificate / -ciraCA): %w", leaf.Subject.CommonName, err)
		}
		if !strings.EqualFold(strings.TrimSuffix(leaf.Subject.CommonName, "."), strings.TrimSuffix(name, ".")) {
			return fmt.Errorf("apfclient: CIRA server certificate common name %q does not match the configured "+
				"server name %q (AMT matches the CN; set the MPS address or CN to it, or -ciraServerName)",
				leaf.Subject.CommonName, name)
		}
		if hardened {
			return hardenedKey(leaf)
		}
		return nil
	}
}

// hardenedKey refuses what AMT 22 refuses in a server leaf: RSA under 3072 bits, EC under P-384.
func hardenedKey(leaf *x509.Certificate) error {
	switch k := leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() >= 3072 {
			return nil
		}
		return fmt.Errorf("apfclient: CIRA server certificate %q has an RSA %d key; this firmware's crypto "+
			"hardening needs RSA 3072 or more, or ECDSA P-384", leaf.Subject.CommonName, k.N.BitLen())
	case *ecdsa.PublicKey:
		if k.Curve.Params().BitSize >= 384 {
			return nil
		}
		return fmt.Errorf("apfclient: CIRA server certificate %q has an EC %s key; this firmware's crypto "+
			"hardening needs P-384 or more, or RSA 3072", leaf.Subject.CommonName, k.Curve.Params().Name)
	}
	return fmt.Errorf("apfclient: CIRA server certificate %q has a %T key, which this firmware refuses",
		leaf.Subject.CommonName, leaf.PublicKey)
}

// trustedRoot is the root a device trusts for CIRA.
type trustedRoot struct {
	der  []byte
	pool *x509.CertPool
}

func rootPool(root []byte) (*trustedRoot, error) {
	der := root
	if b, _ := pem.Decode(root); b != nil {
		der = b.Bytes
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("apfclient: trusted root certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &trustedRoot{der: der, pool: pool}, nil
}

// verify checks that chain (leaf first) leads to the root. A chain this process has
// verified against the same root recently is not verified again: the answer depends only
// on the certificates and the time, and thousands of simulated devices in one process
// would otherwise redo the same RSA verifications for every connection, on the CPU
// shared with the server under test. A success is remembered for verifiedFor at most
// and never past the chain's earliest expiry; a failure is never remembered.
func (r *trustedRoot) verify(chain []*x509.Certificate) error {
	h := sha256.New()
	for _, der := range append([][]byte{r.der}, rawOf(chain)...) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(der))) //nolint:gosec // G115: a certificate is far below 4 GiB
		h.Write(n[:])
		h.Write(der)
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	now := time.Now()
	verified.mu.Lock()
	until, ok := verified.until[key]
	verified.mu.Unlock()
	if ok && now.Before(until) {
		return nil
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: r.pool, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return err
	}
	until = now.Add(verifiedFor)
	for _, c := range chain {
		if c.NotAfter.Before(until) {
			until = c.NotAfter
		}
	}
	verified.mu.Lock()
	defer verified.mu.Unlock()
	if len(verified.until) >= maxVerified {
		clear(verified.until)
	}
	verified.until[key] = until
	return nil
}

func rawOf(chain []*x509.Certificate) [][]byte {
	out := make([][]byte, len(chain))
	for i, c := range chain {
		out[i] = c.Raw
	}
	return out
}

// verifiedFor bounds how long a verified chain is trusted without a new check; maxVerified
// bounds the chains remembered.
const (
	verifiedFor = time.Minute
	maxVerified = 64
)

var verified = struct {
	mu    sync.Mutex
	until map[[sha256.Size]byte]time.Time
}{until: map[[sha256.Size]byte]time.Time{}}

// Run connects and keeps reconnecting, with exponential backoff and jitter,
// until ctx is done; it then returns ctx.Err().
func (c *Client) Run(ctx context.Context) error {
	delay := c.cfg.MinBackoff
	for {
		if err := c.waitPause(ctx); err != nil {
			return err
		}
		established, err := c.connect(ctx)
		c.update(func(s *State) {
			s.Connected = false
			s.LastError = err
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.log.Debug().Err(err).Msg("CIRA link down")
		if established {
			delay = c.cfg.MinBackoff
		}
		// Full jitter over the upper half keeps a fleet from reconnecting in step.
		wait := delay/2 + rand.N(delay/2+1) //nolint:gosec // G404: reconnect jitter needs spread, not unpredictability
		delay = min(2*delay, c.cfg.MaxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-c.cut:
			t.Stop()
		case <-t.C:
		}
	}
}

// waitPause waits out a pause set by Cut.
func (c *Client) waitPause(ctx context.Context) error {
	for {
		c.mu.Lock()
		d := time.Until(c.pausedUntil)
		c.mu.Unlock()
		if d <= 0 {
			return nil
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Cut drops the network now, as a pulled cable would (no DISCONNECT), and
// keeps the client from redialling for pause.
func (c *Client) Cut(pause time.Duration) {
	c.mu.Lock()
	c.pausedUntil = time.Now().Add(pause)
	conn := c.cur
	c.mu.Unlock()
	if conn != nil {
		_ = conn.Close()
	}
	select {
	case c.cut <- struct{}{}:
	default:
	}
}

// State returns the current state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// WaitFor waits until cond holds for the state, or ctx is done.
func (c *Client) WaitFor(ctx context.Context, cond func(State) bool) (State, error) {
	for {
		c.mu.Lock()
		s, ch := c.state, c.changed
		c.mu.Unlock()
		if cond(s) {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return s, fmt.Errorf("apfclient: waiting for state (now %+v): %w", s, ctx.Err())
		case <-ch:
		}
	}
}

func (c *Client) update(f func(*State)) {
	c.mu.Lock()
	f(&c.state)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

func (c *Client) setConn(conn net.Conn) {
	c.mu.Lock()
	c.cur = conn
	c.mu.Unlock()
}
