package amtsim

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"time"
)

// AMT 19 and later enforce TLS on the host-side ports (protocol-rps-activation §1.9, §2.11): rpc-go reports
// tlsEnforced, the activation server reaches WS-Man only as a TLS client of port 16993 through rpc-go, and AMT
// answers there with its own self-signed certificate. After Setup, plain host-side WS-Man (16992) is refused; after
// CommitChanges AMT rolls its TLS stack over: for RolloverDelay new TLS connections are reset.

// Versions of a TLS-enforcing device when Config leaves them empty.
const (
	tlsEnforcedVersion = "19.0.5"
	tlsEnforcedBuild   = "1223"
)

// tlsState is the TLS side of a TLS-enforcing device; guarded by the device lock.
type tlsState struct {
	cert          *tls.Certificate
	config        *tls.Config // one per device, so session tickets stay valid across connections
	rolloverUntil time.Time
	resets        int      // new TLS connections still to reset (InjectTLSResets)
	drops         int      // TLS connections still to drop after the request (InjectTLSDrops)
	dropOn        [][]byte // TLS connections are dropped once their request contains the first of these (InjectTLSDropOn)
	handshakes    int
	resumed       int
}

// TLSEnforced reports whether the device enforces TLS on its host-side ports (rpc-go's tlsEnforced).
func (d *Device) TLSEnforced() bool { return d.cfg.TLSEnforced }

// TLSCertificate is the self-signed certificate the device presents on port 16993, nil when it does not enforce
// TLS.
func (d *Device) TLSCertificate() *x509.Certificate {
	if !d.cfg.TLSEnforced {
		return nil
	}
	d.lock()
	defer d.unlock()
	return d.tlsCertLocked().Leaf
}

// TLSHandshakes counts the TLS handshakes completed on port 16993, and of them those that resumed a session.
func (d *Device) TLSHandshakes() (all, resumed int) {
	d.lock()
	defer d.unlock()
	return d.tls.handshakes, d.tls.resumed
}

// InjectTLSResets makes the next n connections to port 16993 reset before the handshake, as AMT or LMS do while
// the TLS stack restarts.
func (d *Device) InjectTLSResets(n int) {
	d.lock()
	defer d.unlock()
	d.tls.resets = n
}

// InjectTLSDrops makes the next n TLS connections close after the handshake and the first bytes of the request,
// without an answer: a socket reset in the middle of an exchange.
func (d *Device) InjectTLSDrops(n int) {
	d.lock()
	defer d.unlock()
	d.tls.drops = n
}

// InjectTLSDropOn makes AMT close the next TLS connection whose request contains match (e.g. "Setup_INPUT") once
// the request has been read, before acting on it and without an answer: a socket reset in the middle of that
// exchange. Several calls queue up, one drop each.
func (d *Device) InjectTLSDropOn(match string) {
	d.lock()
	defer d.unlock()
	d.tls.dropOn = append(d.tls.dropOn, []byte(match))
}

// dropTLSRequest reports whether the request read on a TLS connection is to be dropped (InjectTLSDropOn).
func (d *Device) dropTLSRequest(body []byte) bool {
	d.lock()
	defer d.unlock()
	if len(d.tls.dropOn) == 0 || !bytes.Contains(body, d.tls.dropOn[0]) {
		return false
	}
	d.tls.dropOn = d.tls.dropOn[1:]
	return true
}

// tlsCertLocked creates the device's certificate on first use: ECDSA P-384 like AMT's On-Die CA keys, self-signed
// here because no Intel CA signs a simulator.
func (d *Device) tlsCertLocked() *tls.Certificate {
	if d.tls.cert != nil {
		return d.tls.cert
	}
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		panic("amtsim: TLS key: " + err.Error())
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "iAMT " + d.guid.String(), Organization: []string{"Intel(R) Client Setup"}},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(20, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
		DNSNames: []string{d.guid.String()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic("amtsim: TLS certificate: " + err.Error())
	}
	leaf, _ := x509.ParseCertificate(der)
	d.tls.cert = &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	return d.tls.cert
}

// commitChangesLocked is CommitChanges: the TLS configuration written since comes into force at once, and the
// returned function, run once the answer is sent, makes a device whose TLS server is on (TLS-enforcing, or just
// configured) restart its TLS stack.
func (d *Device) commitChangesLocked() func() {
	changed := d.applyTLSConfigLocked()
	if changed {
		d.tls.config = nil // the served certificate may have changed
		d.changed()
	}
	if !d.cfg.TLSEnforced && !changed {
		return nil
	}
	return func() {
		d.lock()
		d.tls.rolloverUntil = d.cfg.Clock().Add(d.cfg.RolloverDelay)
		d.unlock()
	}
}

// refusesPlainLocal reports whether host-side WS-Man on 16992 is refused: a TLS-enforcing device once set up.
func (d *Device) refusesPlainLocal() bool {
	if !d.cfg.TLSEnforced {
		return false
	}
	d.lock()
	defer d.unlock()
	return d.mode != PreProvisioning
}

// ServeLocalTLS serves host-side WS-Man over TLS on a connection to port 16993 (LMS's TLS port, which rpc-go
// tunnels to). A device that serves no TLS there (neither enforcing it nor configured with local TLS), is unreachable, rolls over or has resets injected closes the
// connection at once.
func (d *Device) ServeLocalTLS(conn net.Conn) {
	d.lock()
	refuse := !d.servesLocalTLSLocked() || !d.reachable || d.cfg.Clock().Before(d.tls.rolloverUntil) || d.tls.resets > 0
	if d.tls.resets > 0 {
		d.tls.resets--
	}
	if !refuse && d.tls.config == nil {
		d.tls.config = &tls.Config{Certificates: []tls.Certificate{*d.servedCertLocked()}, MinVersion: tls.VersionTLS12}
	}
	cfg := d.tls.config
	d.unlock()
	if refuse {
		_ = conn.Close()
		return
	}
	tc := tls.Server(conn, cfg)
	_ = tc.SetDeadline(time.Now().Add(d.cfg.IdleTimeout))
	if err := tc.Handshake(); err != nil {
		_ = tc.Close()
		return
	}
	_ = tc.SetDeadline(time.Time{})
	d.lock()
	d.tls.handshakes++
	if tc.ConnectionState().DidResume {
		d.tls.resumed++
	}
	drop := d.tls.drops > 0
	if drop {
		d.tls.drops--
	}
	d.unlock()
	if drop {
		_, _ = tc.Read(make([]byte, 1))
		_ = conn.Close() // no close_notify: a reset, not an orderly end
		return
	}
	d.serve(tc, true)
}
