package rps

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"math/big"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
)

// deviceSecrets is tenants/<tenant>/devices/<guid> (contracts.md "Secrets layout").
type deviceSecrets struct {
	AMTPassword  string
	MEBxPassword string
	CIRAUsername string
	CIRAPassword string
	// PreviousAMTPassword is set only while a change of the admin password is under way (adopt, changePassword).
	PreviousAMTPassword string
}

// keyAMTTLSCert holds the SHA-256 of the TLS certificate a TLS-enforced device presented at activation, the pin
// of later sessions (tlstunnel.go). It is no secret but lives with the device's credentials and goes with them.
const keyAMTTLSCert = "AMT_TLS_CERT_SHA256"

func (o *op) devicePath() (string, error) { return secrets.Device(o.tenant, o.p.UUID) }

// readDeviceSecrets returns the device's stored secrets; found is false when there are none.
func (o *op) readDeviceSecrets(ctx context.Context) (deviceSecrets, bool, error) {
	path, err := o.devicePath()
	if err != nil {
		return deviceSecrets{}, false, err
	}
	m, err := o.e.cfg.Secrets.Get(ctx, path)
	if errors.Is(err, secrets.ErrNotFound) {
		return deviceSecrets{}, false, nil
	}
	if err != nil {
		return deviceSecrets{}, false, fmt.Errorf("read the device's secrets: %w", err)
	}
	if o.tlsPin == "" {
		o.tlsPin = m[keyAMTTLSCert]
	}
	return deviceSecrets{
		AMTPassword: m[secrets.KeyAMTPassword], MEBxPassword: m[secrets.KeyMEBxPassword],
		CIRAUsername: m[secrets.KeyCIRAUsername], CIRAPassword: m[secrets.KeyCIRAPassword],
		PreviousAMTPassword: m[secrets.KeyPreviousAMTPassword],
	}, true, nil
}

// secretsMap is what tenants/<tenant>/devices/<guid> holds for ds: empty values are left out.
func (o *op) secretsMap(ds deviceSecrets) map[string]string {
	m := map[string]string{secrets.KeyAMTPassword: ds.AMTPassword}
	for k, v := range map[string]string{
		secrets.KeyMEBxPassword: ds.MEBxPassword, secrets.KeyCIRAUsername: ds.CIRAUsername,
		secrets.KeyCIRAPassword: ds.CIRAPassword, keyAMTTLSCert: o.tlsPin,
		secrets.KeyPreviousAMTPassword: ds.PreviousAMTPassword,
	} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

func (o *op) writeDeviceSecrets(ctx context.Context, ds deviceSecrets) error {
	path, err := o.devicePath()
	if err != nil {
		return err
	}
	return o.step(ctx, "save_secrets", func(ctx context.Context) error {
		if err := o.e.cfg.Secrets.Put(ctx, path, o.secretsMap(ds)); err != nil {
			return fail("Failed to save device information to Secret Provider", err)
		}
		return nil
	})
}

// createDeviceSecrets records the secrets a device is about to be set up with, create-if-absent (Vault cas=0, an
// INSERT ... ON CONFLICT DO NOTHING in the embedded store): should two sessions prepare one device at once (on two
// replicas, one of them past its claim), the first write wins and the other takes its generated values, so the
// password AMT ends with is the stored one whichever Setup gets through. Values the record already held are kept
// the same way; only the static policy's password (the tenant's, the same for every session) replaces a stored one.
func (o *op) createDeviceSecrets(ctx context.Context, static bool, target *deviceSecrets) error {
	path, err := o.devicePath()
	if err != nil {
		return err
	}
	return o.step(ctx, "save_secrets", func(ctx context.Context) error {
		stored, created, err := o.e.cfg.Secrets.CreateIfAbsent(ctx, path, o.secretsMap(*target))
		if err != nil {
			return fail("Failed to save device information to Secret Provider", err)
		}
		if created {
			return nil
		}
		adopt := func(dst *string, key string) {
			if v := stored[key]; v != "" && *dst != "" {
				*dst = v
			}
		}
		if !static {
			adopt(&target.AMTPassword, secrets.KeyAMTPassword)
			adopt(&target.MEBxPassword, secrets.KeyMEBxPassword) // only when this session sets one (ACM)
		}
		adopt(&target.CIRAUsername, secrets.KeyCIRAUsername)
		adopt(&target.CIRAPassword, secrets.KeyCIRAPassword)
		if want := o.secretsMap(*target); !maps.Equal(want, stored) {
			if err := o.e.cfg.Secrets.Put(ctx, path, want); err != nil {
				return fail("Failed to save device information to Secret Provider", err)
			}
		}
		return nil
	})
}

// tenantPassword is the static-policy AMT password of the tenant.
func (o *op) tenantPassword(ctx context.Context) (string, error) {
	path, err := secrets.TenantAMTPassword(o.tenant)
	if err != nil {
		return "", err
	}
	m, err := o.e.cfg.Secrets.Get(ctx, path)
	if err != nil {
		return "", err
	}
	if pw := m[secrets.KeyPassword]; pw != "" {
		return pw, nil
	}
	return "", secrets.ErrNotFound
}

// targetSecrets returns the secrets the device must end with under the tenant's password policy: static, the
// tenant's AMT password for both AMT and MEBx (as EMF configures its profiles, §3.7); dynamic, the device's stored
// random passwords, or new ones (§2.2 rule). Stored CIRA credentials are kept, missing ones generated, so a
// repeated run converges on the same values.
func (o *op) targetSecrets(ctx context.Context, t store.Tenant, stored deviceSecrets) (deviceSecrets, error) {
	ds := stored
	ds.PreviousAMTPassword = "" // a password change under way ends with this run's
	if t.PasswordPolicy == "dynamic" {
		for _, pw := range []*string{&ds.AMTPassword, &ds.MEBxPassword} {
			if *pw == "" {
				p, err := amt.RandomPassword()
				if err != nil {
					return ds, err
				}
				*pw = p
			}
		}
	} else {
		pw, err := o.tenantPassword(ctx)
		if errors.Is(err, secrets.ErrUnavailable) {
			return ds, err
		}
		if err != nil {
			return ds, refuse("Device %s activation failed. Tenant %s has no AMT password (static password policy): %s; "+
				"wait for the tenant to be set up and run the activation again.", o.p.UUID, o.tenant, err.Error())
		}
		ds.AMTPassword, ds.MEBxPassword = pw, pw
	}
	if ds.CIRAUsername == "" {
		u, err := randomAlnum(ciraUsernameLen)
		if err != nil {
			return ds, err
		}
		ds.CIRAUsername = u
	}
	if ds.CIRAPassword == "" {
		p, err := amt.RandomPassword()
		if err != nil {
			return ds, err
		}
		ds.CIRAPassword = p
	}
	return ds, nil
}

// ciraUsernameLen is AMT's limit for AddMpServer's Username: 16 alphanumerics (§2.2).
const ciraUsernameLen = 16

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomAlnum(n int) (string, error) {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alnum)))
	for i := range b {
		k, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("random CIRA username: %w", err)
		}
		b[i] = alnum[k.Int64()]
	}
	return string(b), nil
}

// saveDevice records the device in the store.
func (o *op) saveDevice(ctx context.Context, ds *deviceSecrets, state store.ActivationState, mode store.ControlMode) error {
	d := store.Device{
		GUID: o.p.UUID, TenantID: o.tenant, HostResourceID: o.host.ResourceID, CIRAUsername: ds.CIRAUsername,
		ControlMode: mode, ActivationState: state, DNSSuffix: normalizeSuffix(o.p.FQDN),
		AMTVersion: o.p.Version, AMTBuild: o.p.Build, AMTSKU: o.p.SKU,
	}
	return o.step(ctx, "save_device", func(ctx context.Context) error {
		if _, err := o.e.cfg.Store.UpsertDevice(ctx, d); err != nil {
			return fail("Failed to save the device record", err)
		}
		return o.saveFacts(ctx)
	})
}

// saveFacts records what rpc-go reports about the device beside its identity: the name given with --name (shown
// by the device API as friendlyName, as MPS does), the OS host name and the SKU text. Empty values are not
// written, so a later run without --name keeps the name.
func (o *op) saveFacts(ctx context.Context) error {
	facts := map[string]string{}
	for k, v := range map[string]string{
		"friendlyName": o.p.FriendlyName, "hostname": o.p.Hostname, "features": o.p.Features,
	} {
		if v != "" {
			facts[k] = v
		}
	}
	if len(facts) == 0 {
		return nil
	}
	if err := o.e.cfg.Store.MergeDeviceFacts(ctx, o.p.UUID, facts); err != nil {
		return fail("Failed to save the device record", err)
	}
	return nil
}
