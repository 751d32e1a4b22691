package rps

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/store"
)

// statusTLSConfigured is TLSConfiguration once AMT serves the certificate dm-manager issued (§2.10).
const statusTLSConfigured = "Configured"

// TLSIssuer signs AMT's own TLS server certificate over a public key AMT generated (§2.10 step 5); the gateway CA.
type TLSIssuer interface {
	AMTTLSCertificate(pub crypto.PublicKey, commonName string) ([]byte, error)
}

// configureTLS is the post-provisioning TLS machine of a TLS-enforcing device whose profile has a TLS mode
// (§2.10, §2.11 step 6): AMT generates an RSA key pair, takes a certificate the gateway CA signs over its public key,
// binds it to its TLS endpoints, gets its clock set, and applies the remote and local TLS settings at CommitChanges.
// Every mode dm-manager allows keeps non-TLS connections, which the CIRA gateway uses (port 16992). Once AMT has
// committed, the pin moves to the issued certificate and is stored; after AMT's rollover the next exchange checks it.
// A failure before CommitChanges leaves AMT serving its own certificate, the pin unchanged and the generated key
// pair removed again.
func (o *op) configureTLS(ctx context.Context, ds deviceSecrets) error {
	if o.e.cfg.TLSIssuer == nil {
		return fail("TLS configuration failed: dm-manager has no CA to issue AMT's TLS certificate.", nil)
	}
	// The settings are read first: a device that cannot keep non-TLS connections next to TLS is left alone.
	var remote, local *amt.TLSSettingData
	if err := o.step(ctx, "tls_settings_read", func(ctx context.Context) error {
		var err error
		remote, local, err = o.readTLSSettings(ctx)
		return err
	}); err != nil {
		return fail("TLS configuration failed: AMT's TLS settings could not be read.", err)
	}
	if s := remote.NonSecureConnectionsSupported; s != nil && !*s {
		return fail("TLS configuration failed: this AMT cannot accept non-TLS connections next to TLS, which the CIRA "+
			"gateway needs (port 16992); set the profile's tlsMode to 0 for such devices.", nil)
	}
	var keyID string
	if err := o.step(ctx, "tls_generate_key", func(ctx context.Context) error {
		var err error
		keyID, err = o.amt.GenerateKeyPair(ctx, amt.KeyLength2048)
		return err
	}); err != nil {
		return fail("TLS configuration failed: AMT did not generate a key pair.", err)
	}
	certID, err := o.installTLSCertificate(ctx, keyID)
	if err != nil {
		o.dropKeyPair(ctx, keyID)
		return err
	}
	if err := o.step(ctx, "tls_credential_context", func(ctx context.Context) error {
		n, err := o.amt.TLSCredentialContexts(ctx)
		if err != nil {
			return err
		}
		if n > 0 { // a device configured before: "Put if it exists" (§2.10 step 6)
			return o.amt.PutTLSCredentialContext(ctx, certID)
		}
		return o.amt.CreateTLSCredentialContext(ctx, certID)
	}); err != nil {
		o.dropKeyPair(ctx, keyID)
		return fail("TLS configuration failed: AMT did not take the certificate for its TLS server.", err)
	}
	if err := o.step(ctx, "tls_time_sync", func(ctx context.Context) error {
		return o.amt.SyncClock(ctx, o.e.cfg.Now)
	}); err != nil {
		return fail("TLS configuration failed: AMT's clock was not set.", err)
	}
	// Remote then local, with RPS's pause between them (§2.10 steps 8–9): TLS on, non-TLS connections still
	// accepted, mutual authentication on the network side only in mode 4; the local setting only gets Enabled.
	remote.Enabled, remote.AcceptNonSecureConnections = true, true
	remote.MutualAuthentication = o.prof.TLSMode == store.TLSModeMutual
	if err := o.step(ctx, "tls_settings_remote", func(ctx context.Context) error {
		return o.amt.PutTLSSettings(ctx, *remote)
	}); err != nil {
		return fail("TLS configuration failed: AMT did not take the remote TLS settings.", err)
	}
	if err := o.s.pause(ctx, o.e.cfg.TLSSettingsDelay); err != nil {
		return err
	}
	local.Enabled = true
	if err := o.step(ctx, "tls_settings_local", func(ctx context.Context) error {
		return o.amt.PutTLSSettings(ctx, *local)
	}); err != nil {
		return fail("TLS configuration failed: AMT did not take the local TLS settings.", err)
	}
	if err := o.step(ctx, "tls_commit", func(ctx context.Context) error { return o.amt.CommitChanges(ctx) }); err != nil {
		return fail("TLS configuration failed: AMT did not commit the TLS settings (CommitChanges).", err)
	}
	o.log.Info().Str("amt_cert_sha256", o.issuedPin).Int("tls_mode", int(o.prof.TLSMode)).
		Msg("AMT TLS configured; pin moved to the issued certificate")
	o.tlsPin, o.tlsSessions = o.issuedPin, nil // a session of the old certificate must not be resumed
	if err := o.writeDeviceSecrets(ctx, ds); err != nil {
		return err
	}
	if err := o.s.pause(ctx, o.e.cfg.TLSRolloverDelay); err != nil { // AMT restarts its TLS server
		return err
	}
	// The first exchange after the rollover proves AMT serves the issued certificate.
	if err := o.step(ctx, "tls_check", func(ctx context.Context) error {
		_, err := o.amt.TLSSettings(ctx)
		return err
	}); err != nil {
		return fail("TLS configuration failed: AMT's TLS port did not answer with the issued certificate after "+
			"CommitChanges.", err)
	}
	o.res.status.TLSConfiguration = statusTLSConfigured
	return nil
}

// installTLSCertificate reads the public key of the generated pair, has the issuer sign a certificate over it and
// adds it to AMT (§2.10 steps 4–5); it returns the certificate's InstanceID.
func (o *op) installTLSCertificate(ctx context.Context, keyID string) (string, error) {
	var pair *amt.KeyPair
	if err := o.step(ctx, "tls_key_pairs", func(ctx context.Context) error {
		pairs, err := o.amt.KeyPairs(ctx)
		for i := range pairs {
			if pairs[i].InstanceID == keyID {
				pair = &pairs[i]
			}
		}
		return err
	}); err != nil {
		return "", fail("TLS configuration failed: AMT's key pairs could not be read.", err)
	}
	if pair == nil {
		return "", fail("TLS configuration failed: AMT does not list the key pair it generated ("+keyID+").", nil)
	}
	pub, err := pair.PublicKey()
	if err != nil {
		return "", fail("TLS configuration failed: AMT's generated public key is unusable.", err)
	}
	if pub.N.BitLen() < amt.KeyLength2048 {
		return "", fail(fmt.Sprintf("TLS configuration failed: AMT generated a %d-bit key.", pub.N.BitLen()), nil)
	}
	der, err := o.e.cfg.TLSIssuer.AMTTLSCertificate(pub, o.p.UUID)
	if err != nil {
		return "", fail("TLS configuration failed: the certificate for AMT could not be issued.", err)
	}
	var certID string
	if err := o.step(ctx, "tls_add_certificate", func(ctx context.Context) error {
		var err error
		certID, err = o.amt.AddCertificate(ctx, der)
		return err
	}); err != nil {
		return "", fail("TLS configuration failed: AMT refused the issued certificate (AddCertificate).", err)
	}
	sum := sha256.Sum256(der)
	o.issuedPin = hex.EncodeToString(sum[:])
	return certID, nil
}

// readTLSSettings returns the remote (network) and local (LMS) AMT_TLSSettingData.
func (o *op) readTLSSettings(ctx context.Context) (remote, local *amt.TLSSettingData, err error) {
	settings, err := o.amt.TLSSettings(ctx)
	if err != nil {
		return nil, nil, err
	}
	for i := range settings {
		if settings[i].Remote() {
			remote = &settings[i]
		} else {
			local = &settings[i]
		}
	}
	if remote == nil || local == nil {
		return nil, nil, errors.New("AMT lists no remote and local TLS settings")
	}
	return remote, local, nil
}

// dropKeyPair removes a key pair generated for a TLS configuration that did not complete; AMT has few slots.
// A failure here only logs: the configuration already failed with its own cause.
func (o *op) dropKeyPair(ctx context.Context, keyID string) {
	if sessionOver(ctx) != nil {
		return
	}
	if err := o.step(ctx, "tls_drop_key", func(ctx context.Context) error {
		return o.amt.DeleteKeyPair(ctx, keyID)
	}); err != nil {
		o.log.Warn().Err(err).Str("key_pair", keyID).Msg("generated key pair not removed after the TLS configuration failed")
	}
}
