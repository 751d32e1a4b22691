package amtsim

import (
	"crypto/md5"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/test/amtsim/httpwire"
)

// force puts a device in a mode with testPassword as admin password.
func force(d *Device, m ControlMode) {
	d.lock()
	d.mode = m
	d.adminHA1 = httpwire.HA1("admin", d.realm, testPassword)
	d.changed()
	d.unlock()
}

func TestSetupStateMachine(t *testing.T) {
	tests := []struct {
		name     string
		from     ControlMode
		enc      int
		hash     func(d *Device) string
		wantRV   int
		wantMode ControlMode
	}{
		{"ccm from pre-provisioning", PreProvisioning, 2, adminHash, setupOK, ClientControl},
		{"wrong encryption type", PreProvisioning, 1, adminHash, setupInvalidParam, PreProvisioning},
		{"not a hash", PreProvisioning, 2, func(*Device) string { return "Intel123!" }, setupInvalidParam, PreProvisioning},
		{"upper-case hash", PreProvisioning, 2, func(d *Device) string { return "9B1C5FCEA64021977B23A5751913D07A" }, setupInvalidParam, PreProvisioning},
		{"already ccm", ClientControl, 2, adminHash, setupInvalidState, ClientControl},
		{"already acm", AdminControl, 2, adminHash, setupInvalidState, AdminControl},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDevice(t)
			if tt.from != PreProvisioning {
				force(d, tt.from)
			}
			d.lock()
			rv := d.setup(tt.enc, tt.hash(d), initiator{})
			d.unlock()
			require.Equal(t, tt.wantRV, rv)
			require.Equal(t, tt.wantMode, d.Mode())
			if rv == setupOK {
				require.True(t, d.AdminPasswordIs(testPassword))
				require.False(t, d.AdminPasswordIs("other"))
			}
		})
	}
}

func adminHash(d *Device) string { return httpwire.HA1("admin", d.realm, testPassword) }

func TestPasswordHashVector(t *testing.T) {
	// protocol-rps-activation §7.5.
	require.Equal(t, "9b1c5fcea64021977b23a5751913d07a",
		httpwire.HA1("admin", "Digest:A3829B3827DE4D33D4449B366831FD01", "Intel123!"))
	sum := md5.Sum([]byte("admin:Digest:A3829B3827DE4D33D4449B366831FD01:Intel123!"))
	require.Equal(t, "mxxfzqZAIZd7I6V1GRPQeg==", b64(sum[:]))
}

func TestUnprovisionStateMachine(t *testing.T) {
	tests := []struct {
		name     string
		from     ControlMode
		param    int
		wantRV   int
		wantMode ControlMode
	}{
		{"pre-provisioning", PreProvisioning, 1, ptNotPermitted, PreProvisioning},
		{"ccm", ClientControl, 1, ptSuccess, PreProvisioning},
		{"acm", AdminControl, 1, ptSuccess, PreProvisioning},
		{"bad mode parameter", ClientControl, 2, ptInvalidParameter, ClientControl},
		{"blocked", ClientControl, 1, ptBlockingComponent, ClientControl},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDevice(t)
			force(d, tt.from)
			d.BlockUnprovision(tt.wantRV == ptBlockingComponent)
			d.lock()
			d.cira.servers = []MPServer{{Name: "x"}}
			rv, post := d.unprovision(tt.param, initiator{user: "admin"})
			d.unlock()
			require.Equal(t, tt.wantRV, rv)
			if post != nil {
				post()
			}
			require.Equal(t, tt.wantMode, d.Mode())
			if tt.wantRV == ptSuccess {
				require.Empty(t, d.CIRA().Servers)
				require.Equal(t, defaultMEBxPassword, d.MEBxPassword())
				d.lock()
				require.Equal(t, httpwire.HA1("admin", d.realm, defaultAdminPass), d.adminHA1)
				d.unlock()
			}
		})
	}
}

func TestMEBxAndACLStateMachine(t *testing.T) {
	sum := md5.Sum([]byte("x"))
	tests := []struct {
		name string
		mode ControlMode
		op   func(d *Device) int
		want int
	}{
		{"mebx in ccm", ClientControl, func(d *Device) int { return d.setMEBxPassword("P@ssw0rd1") }, ptNotPermitted},
		{"mebx weak in acm", AdminControl, func(d *Device) int { return d.setMEBxPassword("password") }, ptInvalidParameter},
		{"mebx in acm", AdminControl, func(d *Device) int { return d.setMEBxPassword("P@ssw0rd1") }, ptSuccess},
		{"acl in pre-provisioning", PreProvisioning, func(d *Device) int { return d.setAdminACL("admin", sum[:], initiator{}) }, ptNotPermitted},
		{"acl short digest", ClientControl, func(d *Device) int { return d.setAdminACL("admin", sum[:8], initiator{}) }, ptInvalidParameter},
		{"acl long user", ClientControl, func(d *Device) int { return d.setAdminACL("a23456789012345678", sum[:], initiator{}) }, ptInvalidParameter},
		{"acl ok", ClientControl, func(d *Device) int { return d.setAdminACL("admin", sum[:], initiator{}) }, ptSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDevice(t)
			force(d, tt.mode)
			d.lock()
			got := tt.op(d)
			d.unlock()
			require.Equal(t, tt.want, got)
		})
	}
}

func TestSetAdminAclEntryExChangesPassword(t *testing.T) {
	d := newTestDevice(t)
	c := ccm(t, d)
	// DigestPassword = base64(raw MD5("admin:"+realm+":"+new)) (protocol-rps-activation §2.2).
	sum := md5.Sum([]byte("admin:" + d.DigestRealm() + ":N3w!Passw0rd"))
	rv, _ := c.method(authzURI, "SetAdminAclEntryEx", `<h:Username>admin</h:Username><h:DigestPassword>`+
		b64(sum[:])+`</h:DigestPassword>`)
	require.Equal(t, 0, rv)
	require.True(t, d.AdminPasswordIs("N3w!Passw0rd"))
}
