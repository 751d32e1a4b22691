package ciragw

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/tls"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Authenticator checks the CIRA credentials a device presents (§4). It
// returns the device's tenant, or an error wrapping ErrUnknownDevice or
// ErrBadCredentials when it refuses, or another error when it cannot decide.
type Authenticator interface {
	Authenticate(ctx context.Context, guid, username, password string) (tenant string, err error)
}

// RateLimit is a token bucket for failed logins: Burst failures at once, then
// one more every Every.
type RateLimit struct {
	Burst int
	Every time.Duration
}

// Config configures a Gateway. Zero durations and sizes take the defaults
// named in the field comments.
type Config struct {
	// Certificate is the TLS server certificate AMT validates against the root
	// it was given (see CA.ServerCertificate).
	Certificate tls.Certificate
	// ECDSACertificates are served instead of Certificate, the first one a
	// device's ClientHello accepts (an ECDSA suite or TLS 1.3, the key's curve
	// and signature scheme): see CA.ServerCertificateECDSA. Put P-256 before
	// P-384: its signature costs the gateway a sixth of a P-384 one, and a hello
	// that offers only P-384 (AMT 22's crypto hardening) still gets P-384.
	// Devices that accept none get Certificate.
	ECDSACertificates []tls.Certificate
	// MinTLSVersion defaults to TLS 1.2. CipherSuites defaults to
	// DefaultCipherSuites (see there for why RSA key exchange is included).
	MinTLSVersion uint16
	CipherSuites  []uint16

	Authenticator Authenticator  // required
	Presence      PresenceWriter // optional sink for connect/disconnect/last-seen
	// Registerer receives the gateway's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	Logger     zerolog.Logger

	// HandshakeTimeout bounds TLS plus APF handshake up to the first
	// tcpip-forward (default 15s).
	HandshakeTimeout time.Duration
	// IdleTimeout closes a session that sent nothing for this long (default
	// 90s, MPS CIRA_MAX_IDLE_TIME, §6).
	IdleTimeout time.Duration
	// WriteTimeout bounds every write to a device (default 30s).
	WriteTimeout time.Duration
	// OpenTimeout bounds the wait for AMT's answer to CHANNEL_OPEN (default 30s).
	OpenTimeout time.Duration
	// ChannelIdleTimeout closes a channel with no data either way for this
	// long, reclaiming channels their user forgot (default 5m).
	ChannelIdleTimeout time.Duration
	// KeepaliveInterval and KeepaliveTimeout are sent to AMT in
	// KEEPALIVE_OPTIONS_REQUEST (default 30s and 0, the values MPS sends, §6).
	KeepaliveInterval time.Duration
	KeepaliveTimeout  time.Duration

	// ChannelWindow is the receive window advertised per channel (default
	// 32768, MPS v2.14.2, §5.1). MaxChannelsPerDevice defaults to 6 (§5.2).
	ChannelWindow        uint32
	MaxChannelsPerDevice int
	// MaxPendingHandshakes caps connections not yet established; more are
	// closed at once so a reconnect storm cannot exhaust memory (default 1024).
	MaxPendingHandshakes int
	// MaxConcurrentTLSKeyOps caps the server private-key operations (the
	// signature or RSA decryption of each TLS handshake, most of its CPU) running
	// at once; other handshakes wait their turn within HandshakeTimeout. Under
	// a reconnect storm the CPU then finishes handshakes in arrival order
	// instead of sharing itself among all of them until they all time out
	// (default 2×GOMAXPROCS). Only the key operation is gated, never a wait
	// for the peer, so stalled connections cannot hold a turn.
	MaxConcurrentTLSKeyOps int

	// PresenceFlushInterval and PresenceBatchSize: presence changes are
	// written every interval or as soon as that many are pending (defaults 5s,
	// 500). LastSeenInterval: a session's last-seen time is written at most
	// this often (default 60s).
	PresenceFlushInterval time.Duration
	PresenceBatchSize     int
	LastSeenInterval      time.Duration
	// SweepInterval is how often the registry is walked to queue due last-seen refreshes, prune the login rate
	// limiters and close idle channels (default 5s). It is separate from PresenceFlushInterval, which a cluster
	// sets short for takeover: the walk costs one pass over every session.
	SweepInterval time.Duration
	// SubscriberBuffer is the channel capacity of each Subscribe (default 256).
	SubscriberBuffer int

	// LoginFailuresPerIP rate-limits failed logins per source IP: over it,
	// logins from that address are refused unchecked (default 20 then 1/3s,
	// since sites NAT many devices behind one address).
	LoginFailuresPerIP RateLimit
	// LoginFailuresPerGUID is the failure budget of one device GUID (default
	// 5 then 1/min). Over it, logins for that GUID are still checked (the
	// right password always gets in) but a refused one is answered only after
	// LoginFailureDelay (default 3s), which slows guessing at one device.
	LoginFailuresPerGUID RateLimit
	LoginFailureDelay    time.Duration
	// LoginsInFlightPerIP caps the logins from one source IP being checked by
	// the Authenticator at once; more wait within HandshakeTimeout. It bounds
	// how many guesses one address can have in flight past its failure budget
	// (default 16).
	LoginsInFlightPerIP int
}

func (c *Config) setDefaults() error {
	if c.Authenticator == nil {
		return errors.New("ciragw: Config.Authenticator is required")
	}
	if _, ok := c.Certificate.PrivateKey.(crypto.Signer); !ok {
		return errors.New("ciragw: Config.Certificate with a private key is required (see CA.ServerCertificate)")
	}
	for i, ec := range c.ECDSACertificates {
		if _, ok := ec.PrivateKey.(*ecdsa.PrivateKey); !ok {
			return fmt.Errorf("ciragw: Config.ECDSACertificates[%d] needs its ECDSA private key (see CA.ServerCertificateECDSA)", i)
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(d *int, v int) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.MinTLSVersion == 0 {
		c.MinTLSVersion = tls.VersionTLS12
	}
	if c.CipherSuites == nil {
		c.CipherSuites = DefaultCipherSuites()
	}
	def(&c.HandshakeTimeout, 15*time.Second)
	def(&c.IdleTimeout, 90*time.Second)
	def(&c.WriteTimeout, 30*time.Second)
	def(&c.OpenTimeout, 30*time.Second)
	def(&c.ChannelIdleTimeout, 5*time.Minute)
	def(&c.KeepaliveInterval, 30*time.Second)
	def(&c.PresenceFlushInterval, 5*time.Second)
	def(&c.LastSeenInterval, time.Minute)
	def(&c.SweepInterval, 5*time.Second)
	def(&c.LoginFailureDelay, 3*time.Second)
	if c.ChannelWindow == 0 {
		c.ChannelWindow = 32768
	}
	defInt(&c.MaxChannelsPerDevice, 6)
	defInt(&c.MaxPendingHandshakes, 1024)
	defInt(&c.MaxConcurrentTLSKeyOps, 2*runtime.GOMAXPROCS(0))
	defInt(&c.LoginsInFlightPerIP, 16)
	defInt(&c.PresenceBatchSize, 500)
	defInt(&c.SubscriberBuffer, 256)
	if c.LoginFailuresPerIP.Burst <= 0 {
		c.LoginFailuresPerIP = RateLimit{Burst: 20, Every: 3 * time.Second}
	}
	if c.LoginFailuresPerGUID.Burst <= 0 {
		c.LoginFailuresPerGUID = RateLimit{Burst: 5, Every: time.Minute}
	}
	return nil
}
