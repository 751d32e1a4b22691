package replica

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSFiles turn on mutual TLS for the replica API, on top of the HMAC: this replica's certificate and key (PEM),
// and the CA (PEM) that issued every replica's certificate. A replica accepts only calls from a client presenting
// a certificate of that CA, and calls only servers presenting one. Replicas are dialled at their pod IP, which a
// certificate issued ahead of the pod cannot name, so the peer's chain is verified and its host name is not: the
// CA must be dedicated to the replica API of one deployment. The files are read at start; replace them with a
// restart.
type TLSFiles struct {
	Cert, Key, CA string
}

// Enabled tells whether any file is set.
func (f TLSFiles) Enabled() bool { return f.Cert != "" || f.Key != "" || f.CA != "" }

// Load returns the server's and the client's TLS configurations.
func (f TLSFiles) Load() (server, client *tls.Config, err error) {
	if f.Cert == "" || f.Key == "" || f.CA == "" {
		return nil, nil, errors.New("replica TLS needs a certificate, its key and the CA, all three")
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("replica TLS certificate %s / key %s: %w", f.Cert, f.Key, err)
	}
	pem, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, nil, fmt.Errorf("replica TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("replica TLS CA %s: no PEM certificate in it", f.CA)
	}
	server = &tls.Config{
		MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
	}
	client = &tls.Config{
		MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
		// The chain is checked below against the deployment's CA; the name cannot be (see TLSFiles).
		InsecureSkipVerify: true, //nolint:gosec // G402: VerifyConnection verifies the chain
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("replica TLS: the server presented no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if err != nil {
				return fmt.Errorf("replica TLS: the server's certificate is not from the replica CA: %w", err)
			}
			return nil
		},
	}
	return server, client, nil
}
