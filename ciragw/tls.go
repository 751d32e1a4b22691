package ciragw

import "crypto/tls"

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

func serverTLSConfig(cfg *Config) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cfg.Certificate},
		MinVersion:   cfg.MinTLSVersion,
		CipherSuites: cfg.CipherSuites,
		// MPS requests a client certificate but never checks it (§1.1);
		// identity comes from APF userauth, so none is requested here.
		ClientAuth: tls.NoClientCert,
	}
}
