package rps_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/amtsim/rpc"
)

func maintain(task string, mutate func(*rpc.Config)) rpc.Config {
	c := rpc.Config{Command: rpc.MaintenanceCommand(tenantPassword, task, "", false), Password: tenantPassword}
	if mutate != nil {
		mutate(&c)
	}
	return c
}

func TestMaintenanceTasks(t *testing.T) {
	e := tlsEnv(t, nil)
	tenant := newTenant(t, "static")
	for _, tls := range []bool{false, true} {
		name := map[bool]string{false: "legacy", true: "TLS-enforced"}[tls]
		d := e.newDevice(t, tenant, amtsim.Config{TLSEnforced: tls, RolloverDelay: time.Millisecond})
		require.True(t, e.run(t, d, activate(tenant+"_ccm")).OK(), name)
		require.True(t, e.outcome(t).OK)

		t.Run(name+"/synctime", func(t *testing.T) {
			d.SetAMTTimeOffset(-3 * time.Hour)
			res := e.run(t, d, maintain("synctime", nil))
			o := e.outcome(t)
			require.True(t, res.OK(), res.Message)
			require.Equal(t, "synctime completed succesfully", res.StatusObject.Status)
			require.Equal(t, 1, d.ClockSyncs())
			require.WithinDuration(t, time.Now(), d.AMTTime(), 3*time.Second)
			require.True(t, o.OK)
		})
		t.Run(name+"/synchostname", func(t *testing.T) {
			res := e.run(t, d, maintain("synchostname", func(c *rpc.Config) {
				c.HostnameInfo = rpc.HostnameInfo{Hostname: "till-42", DNSSuffixOS: "shop.example.com"}
			}))
			o := e.outcome(t)
			require.True(t, res.OK(), res.Message)
			require.Equal(t, "synchostname completed succesfully", res.StatusObject.Status)
			require.Equal(t, []string{"till-42"}, d.Setting("AMT_GeneralSettings", "HostName"))
			require.Equal(t, []string{"shop.example.com"}, d.Setting("AMT_GeneralSettings", "DomainName"))
			require.True(t, o.OK)

			res = e.run(t, d, maintain("synchostname", nil))
			require.False(t, res.OK())
			require.Contains(t, res.Message, " - missing HostnameInfo")
			require.False(t, e.outcome(t).OK)
		})
		t.Run(name+"/syncip", func(t *testing.T) {
			res := e.run(t, d, maintain("syncip", func(c *rpc.Config) {
				c.IPConfiguration = rpc.IPConfiguration{Static: true, IPAddress: "10.1.2.3", Netmask: "255.255.255.0",
					Gateway: "10.1.2.1", PrimaryDNS: "10.1.2.2"}
			}))
			o := e.outcome(t)
			require.True(t, res.OK(), res.Message)
			require.Equal(t, "syncip completed succesfully", res.StatusObject.Status)
			require.Equal(t, []string{"false"}, d.Setting("AMT_EthernetPortSettings", "DHCPEnabled"))
			require.Equal(t, []string{"10.1.2.3"}, d.Setting("AMT_EthernetPortSettings", "IPAddress"))
			require.True(t, o.OK)

			res = e.run(t, d, maintain("syncip", func(c *rpc.Config) {
				c.IPConfiguration = rpc.IPConfiguration{Static: true, IPAddress: "10.1.2.300", Netmask: "255.255.255.0"}
			}))
			require.False(t, res.OK())
			require.Equal(t, `syncip failed: ipAddress "10.1.2.300" is not an IPv4 address; rpc-go must report the `+
				`host's static address and netmask`, res.Message)
			require.False(t, e.outcome(t).OK)
		})
		t.Run(name+"/syncdeviceinfo", func(t *testing.T) {
			res := e.run(t, d, maintain("syncdeviceinfo", func(c *rpc.Config) { c.FriendlyName = "front till" }))
			o := e.outcome(t)
			require.True(t, res.OK(), res.Message)
			require.Equal(t, "syncdeviceinfo completed succesfully", res.StatusObject.Status)
			rec, err := testStore.GetDevice(context.Background(), d.GUID().String())
			require.NoError(t, err)
			require.Contains(t, string(rec.Facts), `"friendlyName": "front till"`)
			ver, _, _ := d.Versions()
			require.Equal(t, ver, rec.AMTVersion)
			require.True(t, o.OK)
		})
	}
}
