package ciragw

import (
	"context"
	"crypto"
	"crypto/tls"
	"fmt"
	"io"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultCipherSuites returns the TLS 1.2 suites the gateway offers: Go's
// forward-secret ECDHE suites first, then the RSA key exchange suites that
// older AMT firmware needs. The Go console adds exactly these RSA suites "for
// AMT device compatibility" and MPS accepts an even wider OpenSSL list (§1.1).
// Listing them explicitly is what enables them: Go leaves RSA key exchange out
// of its defaults. TLS 1.3 suites are not configurable and always on. Override
// with Config.CipherSuites to drop the RSA suites once no such firmware is left.
func DefaultCipherSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	}
}

func serverTLSConfig(cfg *Config, gate *keyGate) *tls.Config {
	rsaCert, ecCerts := cfg.Certificate, cfg.ECDSACertificates
	return &tls.Config{
		// No Certificates: GetCertificate hands every handshake the
		// certificate with its key behind the gate, bound to the handshake's
		// context and so to its deadline.
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			c := rsaCert
			for i := range ecCerts {
				if hello.SupportsCertificate(&ecCerts[i]) == nil {
					c = ecCerts[i]
					break
				}
			}
			key := gatedKey{Signer: c.PrivateKey.(crypto.Signer), ctx: hello.Context(), gate: gate} // checked by setDefaults
			c.PrivateKey = key
			if _, ok := key.Signer.(crypto.Decrypter); ok {
				// Only an RSA key may be a Decrypter: crypto/tls refuses the handshake of any other.
				c.PrivateKey = gatedDecrypter{key}
			}
			return &c, nil
		},
		MinVersion:   cfg.MinTLSVersion,
		CipherSuites: cfg.CipherSuites,
		// MPS requests a client certificate but never checks it (§1.1);
		// identity comes from APF userauth, so none is requested here.
		ClientAuth: tls.NoClientCert,
	}
}

// keyGate admits Config.MaxConcurrentTLSKeyOps private-key operations at a
// time, first come first served. Only the CPU-bound operation waits here,
// never a read from the peer, so a stalled client holds no turn.
type keyGate struct {
	turns   chan struct{}
	waiting prometheus.Gauge
}

func (k *keyGate) run(ctx context.Context, op func() ([]byte, error)) ([]byte, error) {
	select {
	case k.turns <- struct{}{}:
	default:
		k.waiting.Inc()
		select {
		case k.turns <- struct{}{}:
			k.waiting.Dec()
		case <-ctx.Done():
			k.waiting.Dec()
			return nil, fmt.Errorf("waiting for a TLS key operation turn: %w", ctx.Err())
		}
	}
	defer func() { <-k.turns }()
	return op()
}

// gatedKey is the server key of one handshake: its signature (ECDHE suites,
// TLS 1.3) waits for the gate, and so does an RSA key's decryption (RSA key
// exchange, TLS 1.2) as gatedDecrypter.
type gatedKey struct {
	crypto.Signer
	ctx  context.Context // the handshake's, for its deadline
	gate *keyGate
}

func (k gatedKey) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.gate.run(k.ctx, func() ([]byte, error) { return k.Signer.Sign(rand, digest, opts) })
}

type gatedDecrypter struct{ gatedKey }

func (k gatedDecrypter) Decrypt(rand io.Reader, msg []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	d := k.Signer.(crypto.Decrypter) // checked by GetCertificate
	return k.gate.run(k.ctx, func() ([]byte, error) { return d.Decrypt(rand, msg, opts) })
}
