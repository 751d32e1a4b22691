package rps

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

// tunnelAttempts is how many TLS handshakes one connection may take: AMT resets sockets while it rolls its TLS
// stack over after Setup/CommitChanges, and RPS tries a tunnelled call at least three times (§1.6 step 5).
const tunnelAttempts = 3

// handshakeTimeout bounds one TLS handshake through rpc-go (rpc-go waits 2 s for AMT's first byte, §4.3).
const handshakeTimeout = 10 * time.Second

// errPinMismatch is AMT presenting another certificate than the one this device presented before.
var errPinMismatch = errors.New("AMT presented a TLS certificate other than the one pinned for this device")

// connectTLS builds the WS-Man client over the TLS tunnel: every exchange is its own TLS session on a fresh
// tunnelled socket to port 16993, because AMT closes the socket after each `Connection: close` exchange (§1.9).
func (o *op) connectTLS(user string, pw adminPasswords) error {
	c, err := wsman.New(wsman.Config{
		Dialer: wsman.DialerFunc(o.dialTLS), Host: o.p.UUID + ":16993", Username: user, Password: pw.stored,
		FallbackPassword: pw.previous, DisableKeepAlive: true, Timeout: o.e.cfg.StepTimeout,
		// A socket reset in the middle of an exchange is retried over a new TLS session where that is safe:
		// the request was not written, or it is a Get/Enumerate (wsman.Client.exchange). Anything else ends
		// the step with the reset as its cause.
		RetryNewConnections: true,
	})
	if err != nil {
		return err
	}
	o.setClient(c)
	return nil
}

// dialTLS opens one TLS session to AMT through rpc-go. A handshake that ends in a reset (AMT rolling over, LMS
// reconnecting) is tried again after TLSRetryDelay, up to tunnelAttempts; nothing reached AMT's WS-Man stack yet,
// so a retry cannot repeat an action. A certificate that breaks the pin is never retried, nor rpc-go's LMS error.
func (o *op) dialTLS(ctx context.Context) (net.Conn, error) {
	var last error
	for attempt := 1; attempt <= tunnelAttempts; attempt++ {
		if attempt > 1 {
			if err := o.s.pause(ctx, o.e.cfg.TLSRetryDelay); err != nil {
				return nil, err
			}
		}
		raw := newTunnelConn(o.s)
		conn := tls.Client(raw, o.tlsConfig())
		hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
		err := conn.HandshakeContext(hctx)
		cancel()
		if err == nil {
			return conn, nil
		}
		_ = raw.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, errPinMismatch) {
			return nil, err
		}
		if errors.Is(err, errLMS) { // LMS does not come back by itself within a retry delay
			//nolint:staticcheck // ST1005: rpc-go shows this text to the operator; RPS words it so
			return nil, fmt.Errorf("Failed to establish TLS tunnel connection: %w", errLMS)
		}
		last = err
		o.log.Debug().Err(err).Int("attempt", attempt).Msg("TLS handshake with AMT failed")
	}
	//nolint:staticcheck // ST1005: rpc-go shows this text to the operator; RPS words it so
	return nil, fmt.Errorf("Failed to establish TLS tunnel connection: %d TLS handshakes with AMT's port 16993 "+
		"through rpc-go failed (last: %w); check that AMT is reachable from the host and run the activation again",
		tunnelAttempts, last)
}

// tlsConfig checks what AMT presents. AMT 19 serves its own self-signed certificate until a TLS certificate is
// provisioned; RPS checks a pre-provisioning device's chain against Intel's On-Die CA root, which dm-manager does
// not bundle. Instead the certificate is pinned: the first handshake of a session records the SHA-256 of AMT's
// leaf certificate (or the one stored for the device at its activation) and every later handshake must present
// the same one, so nothing can slip in between the exchanges of one activation, nor between activation and later
// maintenance. Validity dates are not checked: AMT's clock is often unset before provisioning.
func (o *op) tlsConfig() *tls.Config {
	if o.tlsSessions == nil {
		// One TLS session per exchange: resuming the first one saves AMT a full handshake each time. A resumed
		// session still passes VerifyConnection with the certificate of the full handshake.
		o.tlsSessions = tls.NewLRUClientSessionCache(1)
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ClientSessionCache: o.tlsSessions,
		InsecureSkipVerify: true, //nolint:gosec // G402: AMT's self-signed certificate is pinned in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("AMT presented no TLS certificate")
			}
			leaf := cs.PeerCertificates[0]
			switch k := leaf.PublicKey.(type) {
			case *rsa.PublicKey:
				if k.N.BitLen() < 2048 {
					return fmt.Errorf("AMT's TLS key has %d bits, fewer than 2048", k.N.BitLen())
				}
			case *ecdsa.PublicKey:
			default:
				return fmt.Errorf("AMT's TLS certificate has an unsupported key type %T", leaf.PublicKey)
			}
			sum := sha256.Sum256(leaf.Raw)
			fp := hex.EncodeToString(sum[:])
			switch {
			case o.tlsPin == "":
				o.tlsPin = fp
				o.log.Info().Str("amt_cert_sha256", fp).Msg("AMT TLS certificate pinned")
			case o.tlsPin != fp:
				return fmt.Errorf("%w (got sha256 %s, pinned %s); if AMT's certificate changed legitimately, "+
					"deactivate the device and activate it again", errPinMismatch, fp, o.tlsPin)
			}
			return nil
		},
	}
}

// portSwitch sends `port_switch` and waits for rpc-go's `port_switch_ack` (§1.3): rpc-go waits the delay,
// reopens its socket to AMT's TLS port and acknowledges. The delay covers AMT's TLS rollover after
// Setup/CommitChanges, so no handshake hits a restarting TLS stack. No ack within delay + PortSwitchTimeout fails.
func (o *op) portSwitch(ctx context.Context, delay time.Duration) error {
	secs := int((delay + time.Second - 1) / time.Second)
	raw := fmt.Sprintf(`{"port":"16993","delay":%d}`, secs)
	if err := o.s.send(serverMessage{Method: methodPortSwitch, Status: "ok", Payload: &raw}); err != nil {
		o.s.cancel(errPeerClosed)
		return errPeerClosed
	}
	limit := time.Duration(secs)*time.Second + o.e.cfg.PortSwitchTimeout
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if err := o.s.await(wctx, methodPortSwitchAck); err != nil {
		if ctx.Err() != nil {
			return causeOf(ctx, ctx.Err())
		}
		return fail("Failed to complete port switch to TLS", fmt.Errorf("rpc-go did not acknowledge the switch to "+
			"AMT's TLS port within %s; check that the host's rpc-go supports the TLS tunnel (port_switch) and run "+
			"the activation again", limit))
	}
	return nil
}
