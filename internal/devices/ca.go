package devices

import (
	"context"
	"errors"
	"fmt"

	"github.com/dmrm/dm-manager/ciragw"
	"github.com/dmrm/dm-manager/internal/secrets"
)

// CAStore keeps the gateway CA at the global secrets path gateway/ca {cert_pem, key_pem} (contracts.md).
type CAStore struct {
	sec secrets.Store
}

var _ ciragw.CAStore = (*CAStore)(nil)

// NewCAStore returns a CAStore over sec.
func NewCAStore(sec secrets.Store) *CAStore { return &CAStore{sec: sec} }

// Load returns the stored CA, or an error wrapping ciragw.ErrNoCA when none is stored.
func (c *CAStore) Load(ctx context.Context) (certPEM, keyPEM []byte, err error) {
	m, err := c.sec.Get(ctx, secrets.GatewayCA())
	if errors.Is(err, secrets.ErrNotFound) {
		return nil, nil, fmt.Errorf("devices: %w at secret %s", ciragw.ErrNoCA, secrets.GatewayCA())
	}
	if err != nil {
		return nil, nil, fmt.Errorf("devices: reading the gateway CA: %w", err)
	}
	cert, key := m[secrets.KeyCertPEM], m[secrets.KeyKeyPEM]
	if cert == "" || key == "" {
		return nil, nil, c.damaged()
	}
	return []byte(cert), []byte(key), nil
}

// Create stores the CA unless one is stored already (secrets create-if-absent: one CA for every replica) and
// returns the stored one.
func (c *CAStore) Create(ctx context.Context, certPEM, keyPEM []byte) ([]byte, []byte, error) {
	m, _, err := c.sec.CreateIfAbsent(ctx, secrets.GatewayCA(), map[string]string{
		secrets.KeyCertPEM: string(certPEM), secrets.KeyKeyPEM: string(keyPEM),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("devices: storing the gateway CA: %w", err)
	}
	cert, key := m[secrets.KeyCertPEM], m[secrets.KeyKeyPEM]
	if cert == "" || key == "" {
		return nil, nil, c.damaged()
	}
	return []byte(cert), []byte(key), nil
}

func (c *CAStore) damaged() error {
	return fmt.Errorf("devices: secret %s lacks %s or %s; delete it to have a new CA generated "+
		"(every device must then be given the new root)", secrets.GatewayCA(), secrets.KeyCertPEM, secrets.KeyKeyPEM)
}
