package rps

import (
	"context"

	"github.com/dmrm/dm-manager/internal/secrets"
)

// keepFirstGenerated makes the device's generated secrets generated once: when the device had none stored,
// the freshly generated ds is stored create-if-absent before AMT is touched, and if another session stored its
// own first (possible only if that session's claim lapsed), that one's values are used instead, so AMT and the
// secrets store never end up with two different passwords.
func (o *op) keepFirstGenerated(ctx context.Context, ds deviceSecrets) (deviceSecrets, error) {
	path, err := o.devicePath()
	if err != nil {
		return ds, err
	}
	m := map[string]string{}
	for k, v := range map[string]string{
		secrets.KeyAMTPassword: ds.AMTPassword, secrets.KeyMEBxPassword: ds.MEBxPassword,
		secrets.KeyCIRAUsername: ds.CIRAUsername, secrets.KeyCIRAPassword: ds.CIRAPassword,
	} {
		if v != "" {
			m[k] = v
		}
	}
	stored, created, err := o.e.cfg.Secrets.CreateIfAbsent(ctx, path, m)
	if err != nil {
		return ds, refuse("Device %s activation failed. Storing its generated secrets failed (%s); run the "+
			"activation again.", o.p.UUID, err.Error())
	}
	if created {
		return ds, nil
	}
	o.log.Warn().Msg("another session stored this device's secrets first; using those")
	out := deviceSecrets{AMTPassword: stored[secrets.KeyAMTPassword], MEBxPassword: stored[secrets.KeyMEBxPassword],
		CIRAUsername: stored[secrets.KeyCIRAUsername], CIRAPassword: stored[secrets.KeyCIRAPassword]}
	if out.AMTPassword == "" || out.CIRAUsername == "" || out.CIRAPassword == "" {
		return ds, refuse("Device %s activation failed. Another session stored its secrets without an AMT password "+
			"or CIRA credentials; run the activation again.", o.p.UUID)
	}
	if out.MEBxPassword == "" {
		out.MEBxPassword = ds.MEBxPassword
	}
	return out, nil
}
