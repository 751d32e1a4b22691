package rps_test

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/rps"
	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/amtsim/rpc"
)

func TestAuthorizationRefusals(t *testing.T) {
	e := newEnv(t, nil)
	tenant, other := newTenant(t, "static"), newTenant(t, "static")
	ctx := context.Background()
	tests := []struct {
		name    string
		prepare func(d *amtsim.Device)
		profile string
		want    func(guid string) string
	}{{
		name:    "host not in the tenant",
		prepare: func(*amtsim.Device) {},
		profile: other + "_ccm", // a guessable name of another tenant
		want: func(guid string) string {
			return "Device " + guid + " activation failed. No host with this UUID is registered in tenant " + other +
				"; register the host in Edge Infrastructure Manager before activating it."
		},
	}, {
		name: "host does not want AMT",
		prepare: func(d *amtsim.Device) {
			e.hosts.set(tenant, d.GUID().String(), rps.Host{ResourceID: "host-9", DesiredAMT: rps.AMTStateUnprovisioned})
		},
		profile: tenant + "_ccm",
		want: func(guid string) string {
			return "Device " + guid + " activation failed. Host host-9 does not ask for vPro/AMT activation (desired " +
				"AMT state AMT_STATE_UNPROVISIONED); set it to PROVISIONED (enable vPro) first."
		},
	}, {
		name: "device recorded by another tenant",
		prepare: func(d *amtsim.Device) {
			_, err := testStore.UpsertDevice(ctx, store.Device{GUID: d.GUID().String(), TenantID: other})
			require.NoError(t, err)
		},
		profile: tenant + "_ccm",
		want: func(string) string {
			return "Device belongs to another tenant. Please unprovision and re-activate device."
		},
	}, {
		name:    "profile names no tenant",
		prepare: func(*amtsim.Device) {},
		profile: "corp_ccm",
		want: func(guid string) string {
			return "Device " + guid + " activation failed. corp_ccm does not match list of available AMT profiles."
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := e.newDevice(t, tenant, amtsim.Config{})
			tc.prepare(d)
			res := e.run(t, d, activate(tc.profile))
			require.False(t, res.OK())
			require.Equal(t, tc.want(d.GUID().String()), res.Message)
			require.Zero(t, res.Exchanges)
			require.Equal(t, amtsim.PreProvisioning, d.Mode())
		})
	}
}

// A websocket lost right after AMT was activated leaves the device recorded with the password AMT has; the
// agent's next run, with the tenant password it is given, takes the reconfigure path and completes.
func TestDroppedSessionThenRetry(t *testing.T) {
	e := newEnv(t, nil)
	tenant := newTenant(t, "dynamic")
	d := e.newDevice(t, tenant, amtsim.Config{})
	guid := d.GUID().String()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runCtx, drop := context.WithCancel(ctx)
	go func() {
		_, _ = d.WaitFor(runCtx, func(s amtsim.State) bool { return s.Mode == amtsim.ClientControl })
		drop()
	}()
	_, err := rpc.Run(runCtx, d, rpc.Config{URL: e.url, Command: rpc.ActivateCommand(tenant+"_ccm", false)})
	require.Error(t, err)
	o := e.outcome(t)
	require.False(t, o.OK)
	require.Contains(t, o.Message, "rpc-go closed the websocket before the operation finished")
	require.Equal(t, amtsim.ClientControl, d.Mode())
	stored := deviceSecrets(t, tenant, guid)[secrets.KeyAMTPassword]
	require.True(t, d.AdminPasswordIs(stored), "the password AMT got was stored before Setup")

	res := e.run(t, d, rpc.Config{Command: rpc.ActivateCommand(tenant+"_ccm", false), Password: tenantPassword})
	require.True(t, res.OK(), res.Message)
	require.Equal(t, "already enabled in client mode.", res.StatusObject.Status)
	requireCIRA(t, d, tenant)
	require.True(t, d.AdminPasswordIs(stored))
	rec, err := testStore.GetDevice(ctx, guid)
	require.NoError(t, err)
	require.Equal(t, store.StateActivated, rec.ActivationState)
	require.True(t, e.outcome(t).OK)
}

func TestDeactivate(t *testing.T) {
	e := newEnv(t, nil)
	tenant := newTenant(t, "static")
	d := e.newDevice(t, tenant, amtsim.Config{})
	guid := d.GUID().String()

	res := e.run(t, d, rpc.Config{Command: rpc.DeactivateCommand(tenantPassword, false), Password: tenantPassword})
	require.Equal(t, "Device "+guid+" is in pre-provisioning mode.", res.Message)
	require.True(t, e.run(t, d, activate(tenant+"_ccm")).OK())
	require.True(t, e.outcome(t).OK, "the refusal above named no tenant, so only the activation is reported")

	res = e.run(t, d, rpc.Config{Command: rpc.DeactivateCommand("Wrong123!", false), Password: "Wrong123!", TenantID: tenant})
	require.Equal(t, "AMT password DOES NOT match stored version for Device "+guid, res.Message)
	require.Equal(t, amtsim.ClientControl, d.Mode())
	e.outcome(t)

	res = e.run(t, d, rpc.Config{Command: rpc.DeactivateCommand(tenantPassword, false), Password: tenantPassword})
	require.True(t, res.OK(), res.Message)
	require.Equal(t, "Deactivated", res.StatusObject.Status)
	require.Equal(t, amtsim.PreProvisioning, d.Mode())
	path, err := secrets.Device(tenant, guid)
	require.NoError(t, err)
	_, err = testSecrets.Get(context.Background(), path)
	require.ErrorIs(t, err, secrets.ErrNotFound)
	_, err = testStore.GetDevice(context.Background(), guid)
	require.ErrorIs(t, err, store.ErrNotFound)
	o := e.outcome(t)
	require.Equal(t, rps.Outcome{Tenant: tenant, GUID: guid, Op: "deactivate", OK: true, Message: "Deactivated", At: o.At,
		Known: true}, o)
}

func TestChangePassword(t *testing.T) {
	e := newEnv(t, nil)
	tenant := newTenant(t, "static")
	d := e.newDevice(t, tenant, amtsim.Config{})
	guid := d.GUID().String()
	require.True(t, e.run(t, d, activate(tenant+"_ccm")).OK())

	res := e.run(t, d, rpc.Config{Command: rpc.MaintenanceCommand(tenantPassword, "changepassword", "weak", false),
		Password: tenantPassword})
	require.Equal(t, "changepassword failed: the new password must be 8 to 32 characters with a digit, a lower-case "+
		"letter, an upper-case letter and one of !@#$%^&*", res.Message)

	res = e.run(t, d, rpc.Config{Command: rpc.MaintenanceCommand(tenantPassword, "changepassword", "N3w-Passw0rd!", false),
		Password: tenantPassword})
	require.True(t, res.OK(), res.Message)
	require.Equal(t, "changepassword completed succesfully", res.StatusObject.Status)
	require.True(t, d.AdminPasswordIs("N3w-Passw0rd!"))
	require.Equal(t, "N3w-Passw0rd!", deviceSecrets(t, tenant, guid)[secrets.KeyAMTPassword])

	res = e.run(t, d, rpc.Config{Command: rpc.MaintenanceCommand("N3w-Passw0rd!", "changepassword", "", false),
		Password: "N3w-Passw0rd!"})
	require.True(t, res.OK(), res.Message)
	random := deviceSecrets(t, tenant, guid)[secrets.KeyAMTPassword]
	require.NotEqual(t, "N3w-Passw0rd!", random)
	require.True(t, d.AdminPasswordIs(random))

	// The agent only knows the tenant password: activation takes the device back to it.
	res = e.run(t, d, rpc.Config{Command: rpc.ActivateCommand(tenant+"_ccm", false), Password: tenantPassword})
	require.True(t, res.OK(), res.Message)
	require.True(t, d.AdminPasswordIs(tenantPassword))
	require.Equal(t, tenantPassword, deviceSecrets(t, tenant, guid)[secrets.KeyAMTPassword])
}

// A session lost right after AMT took a new admin password that only dm-manager knows (dynamic policy, device
// secrets missing) leaves that password stored, with the one AMT had before it; the agent's next run, with the
// old password, opens the device with the new one and clears the old.
func TestPasswordChangeInterrupted(t *testing.T) {
	e := newEnv(t, nil)
	tenant := newTenant(t, "dynamic")
	var (
		mu    sync.Mutex
		old   string
		drop  = func() {}
		moved bool
	)
	d := e.newDevice(t, tenant, amtsim.Config{OnChange: func(d *amtsim.Device, _ amtsim.State) {
		mu.Lock()
		defer mu.Unlock()
		if old != "" && !moved && !d.AdminPasswordIs(old) {
			moved = true
			drop()
		}
	}})
	guid := d.GUID().String()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.True(t, e.run(t, d, activate(tenant+"_ccm")).OK())
	e.outcome(t)
	first := deviceSecrets(t, tenant, guid)[secrets.KeyAMTPassword]
	path, err := secrets.Device(tenant, guid)
	require.NoError(t, err)
	require.NoError(t, testSecrets.Delete(ctx, path), "the secrets are lost: the next run sets a new random password")

	runCtx, stop := context.WithCancel(ctx)
	mu.Lock()
	old, drop = first, stop
	mu.Unlock()
	_, err = rpc.Run(runCtx, d, rpc.Config{URL: e.url, Command: rpc.ActivateCommand(tenant+"_ccm", false), Password: first})
	require.Error(t, err)
	e.outcome(t)
	mu.Lock()
	require.True(t, moved, "AMT took a new password")
	mu.Unlock()
	stored := deviceSecrets(t, tenant, guid)
	require.True(t, d.AdminPasswordIs(stored[secrets.KeyAMTPassword]), "the password AMT has is stored")
	require.Equal(t, first, stored[secrets.KeyPreviousAMTPassword])

	res := e.run(t, d, rpc.Config{Command: rpc.ActivateCommand(tenant+"_ccm", false), Password: first})
	require.True(t, res.OK(), res.Message)
	require.True(t, e.outcome(t).OK)
	after := deviceSecrets(t, tenant, guid)
	require.Equal(t, stored[secrets.KeyAMTPassword], after[secrets.KeyAMTPassword])
	require.NotContains(t, after, secrets.KeyPreviousAMTPassword)
	require.True(t, d.AdminPasswordIs(after[secrets.KeyAMTPassword]))
}

// The new password was recorded but the session was lost before AMT took it: the next activation finds AMT still
// on the old one, opens the device with it and completes the change.
func TestPasswordChangeRecordedButNotMade(t *testing.T) {
	e := newEnv(t, nil)
	d, tenant, guid := e.activatedDynamic(t)
	next := "N3xt-Passw0rd!"
	recordUnmadeChange(t, tenant, guid, next)

	res := e.run(t, d, rpc.Config{Command: rpc.ActivateCommand(tenant+"_ccm", false), Password: tenantPassword})
	require.True(t, res.OK(), res.Message)
	require.True(t, e.outcome(t).OK)
	require.True(t, d.AdminPasswordIs(next), "the recorded change is made")
	after := deviceSecrets(t, tenant, guid)
	require.Equal(t, next, after[secrets.KeyAMTPassword])
	require.NotContains(t, after, secrets.KeyPreviousAMTPassword)
}

// Maintenance and deactivation also open a device whose recorded password change AMT never made: with the old
// password, which a changepassword then records as the one AMT had.
func TestMaintenanceAndDeactivateAfterUnmadeChange(t *testing.T) {
	e := newEnv(t, nil)
	d, tenant, guid := e.activatedDynamic(t)

	amtHas := recordUnmadeChange(t, tenant, guid, "N3xt-Passw0rd!")
	res := e.run(t, d, rpc.Config{Command: rpc.MaintenanceCommand(tenantPassword, "synctime", "", false), Password: tenantPassword})
	require.True(t, res.OK(), res.Message)
	e.outcome(t)

	res = e.run(t, d, rpc.Config{Command: rpc.MaintenanceCommand(tenantPassword, "changepassword", "Chang3d-Passw0rd!", false),
		Password: tenantPassword})
	require.True(t, res.OK(), res.Message)
	e.outcome(t)
	require.True(t, d.AdminPasswordIs("Chang3d-Passw0rd!"))
	after := deviceSecrets(t, tenant, guid)
	require.Equal(t, "Chang3d-Passw0rd!", after[secrets.KeyAMTPassword])
	require.NotContains(t, after, secrets.KeyPreviousAMTPassword)
	require.False(t, d.AdminPasswordIs(amtHas))

	recordUnmadeChange(t, tenant, guid, "Th1rd-Passw0rd!")
	res = e.run(t, d, rpc.Config{Command: rpc.DeactivateCommand(tenantPassword, false), Password: tenantPassword})
	require.True(t, res.OK(), res.Message)
	e.outcome(t)
	require.Equal(t, amtsim.PreProvisioning, d.State().Mode)
}

// activatedDynamic is a device of a new tenant with the dynamic password policy, activated in CCM.
func (e *env) activatedDynamic(t *testing.T) (d *amtsim.Device, tenant, guid string) {
	t.Helper()
	tenant = newTenant(t, "dynamic")
	d = e.newDevice(t, tenant, amtsim.Config{})
	require.True(t, e.run(t, d, activate(tenant+"_ccm")).OK())
	e.outcome(t)
	return d, tenant, d.GUID().String()
}

// recordUnmadeChange stores next as the device's password with the one AMT has as the previous one, as a change
// lost before AMT was asked leaves them; it returns the one AMT has.
func recordUnmadeChange(t *testing.T, tenant, guid, next string) string {
	t.Helper()
	path, err := secrets.Device(tenant, guid)
	require.NoError(t, err)
	current := deviceSecrets(t, tenant, guid)
	recorded := maps.Clone(current)
	recorded[secrets.KeyAMTPassword], recorded[secrets.KeyPreviousAMTPassword] = next, current[secrets.KeyAMTPassword]
	require.NoError(t, testSecrets.Put(context.Background(), path, recorded))
	return current[secrets.KeyAMTPassword]
}
