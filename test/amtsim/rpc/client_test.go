package rpc_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/test/amtsim"
	"github.com/dmrm/dm-manager/test/amtsim/rpc"
	"github.com/dmrm/dm-manager/test/amtsim/rpc/rpstest"
)

const (
	gsURI  = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"
	hbsURI = "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService"
	sacURI = "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_SetupAndConfigurationService"
	getURI = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
)

func newDevice(t *testing.T) *amtsim.Device {
	d, err := amtsim.New(amtsim.Config{DNSSuffix: "vprodemo.test", Hostname: "edge-1"})
	require.NoError(t, err)
	return d
}

// server runs script and reports its failure to the test after the session.
func server(t *testing.T, script func(s *rpstest.Session) error) string {
	errs := make(chan error, 1)
	srv := rpstest.New(func(s *rpstest.Session) error {
		err := script(s)
		errs <- err
		return err
	})
	t.Cleanup(func() {
		srv.Close()
		select {
		case err := <-errs:
			require.NoError(t, err)
		default:
		}
	})
	return srv.URL
}

func TestCCMActivation(t *testing.T) {
	d := newDevice(t)
	url := server(t, func(s *rpstest.Session) error {
		user, pass := d.LSA()
		p := s.Payload
		checks := []struct {
			name      string
			got, want any
		}{
			{"method", s.First.Method, "activate --profile T_ccm"},
			{"apiKey", s.First.APIKey, "key"},
			{"protocolVersion", s.First.ProtocolVersion, "4.0.0"},
			{"tenantId", s.First.TenantID, "T"},
			{"uuid", p.UUID, d.GUID().String()},
			{"currentMode", p.CurrentMode, 0},
			{"username", p.Username, user},
			{"password", p.Password, pass},
			{"fqdn", p.FQDN, "vprodemo.test"},
			{"client", p.Client, "RPC"},
			{"hostname", p.Hostname, "edge-1"},
			{"ver", p.Version, "16.1.25"},
			{"certHashes", len(p.CertHashes) > 0 && len(p.CertHashes[0]) == 64, true},
		}
		for _, c := range checks {
			if c.got != c.want {
				return errors.New(c.name + " is wrong")
			}
		}
		if err := s.Send("heartbeat_request", "", ""); err != nil {
			return err
		}
		hb, err := s.Read()
		if err != nil || hb.Method != "heartbeat_response" || hb.Status != "success" {
			return errors.New("heartbeat not echoed")
		}
		return rpstest.CCM("Intel123!", nil)(s)
	})
	res, err := rpc.Run(context.Background(), d, rpc.Config{URL: url, Command: rpc.ActivateCommand("T_ccm", false), TenantID: "T"})
	require.NoError(t, err)
	require.True(t, res.OK())
	require.Equal(t, "Client control mode.", res.Text())
	require.Equal(t, 3, res.Exchanges) // Get (401), Get, Setup
	require.Equal(t, amtsim.ClientControl, d.Mode())
	require.True(t, d.AdminPasswordIs("Intel123!"))
}

func TestPayloadKeyOrder(t *testing.T) {
	d := newDevice(t)
	p, err := rpc.BuildPayload(d, rpc.Config{})
	require.NoError(t, err)
	b, err := json.Marshal(p)
	require.NoError(t, err)
	// rpc-go marshal order (§1.5), zero-valued nested objects included.
	require.True(t, strings.HasPrefix(string(b), `{"ver":"16.1.25","build":"2049","sku":"16392","features":"AMT Pro Corporate","uuid":`))
	require.Contains(t, string(b), `"ipConfiguration":{"dhcp":false,"static":false,"ipsync":false,"ipAddress":"","netmask":"","gateway":"","primaryDns":"","secondaryDns":""},"hostnameInfo":{"dnsSuffixOS":"","hostname":""}}`)
}

func TestDeactivation(t *testing.T) {
	d := newDevice(t)
	activate(t, d)
	url := server(t, func(s *rpstest.Session) error {
		if s.First.Method != "deactivate --password Intel123!" || s.Payload.CurrentMode != 1 || s.Payload.Password != "Intel123!" {
			return errors.New("unexpected deactivate request")
		}
		rv, _, err := s.Method(sacURI, "Unprovision", `<h:ProvisioningMode>1</h:ProvisioningMode>`)
		if err != nil || rv != 0 {
			return errors.New("unprovision failed")
		}
		return s.Send("success", `{"Status":"Deactivated"}`, "")
	})
	res, err := rpc.Run(context.Background(), d, rpc.Config{URL: url, Command: rpc.DeactivateCommand("Intel123!", false), Password: "Intel123!"})
	require.NoError(t, err)
	require.Equal(t, "Deactivated", res.Text())
	require.Equal(t, amtsim.PreProvisioning, d.Mode())
}

func activate(t *testing.T, d *amtsim.Device) {
	url := server(t, rpstest.CCM("Intel123!", nil))
	_, err := rpc.Run(context.Background(), d, rpc.Config{URL: url, Command: rpc.ActivateCommand("p", false)})
	require.NoError(t, err)
	require.Equal(t, amtsim.ClientControl, d.Mode())
}

func TestTerminalAndFailureCases(t *testing.T) {
	t.Run("plain-text pre-flight error", func(t *testing.T) {
		url := server(t, func(s *rpstest.Session) error {
			return s.Send("error", "Device x activation failed. p does not match list of available AMT profiles.", "")
		})
		res, err := rpc.Run(context.Background(), newDevice(t), rpc.Config{URL: url, Command: rpc.ActivateCommand("p", false)})
		require.NoError(t, err)
		require.False(t, res.OK())
		require.Equal(t, "failed", res.Status)
		require.Nil(t, res.StatusObject)
		require.Contains(t, res.Text(), "does not match")
	})
	t.Run("socket closed without terminal message", func(t *testing.T) {
		url := server(t, func(*rpstest.Session) error { return nil })
		_, err := rpc.Run(context.Background(), newDevice(t), rpc.Config{URL: url, Command: rpc.ActivateCommand("p", false)})
		require.ErrorIs(t, err, rpc.ErrClosed)
	})
	t.Run("tls tunnel not supported", func(t *testing.T) {
		url := server(t, func(s *rpstest.Session) error {
			_ = s.Send("port_switch", "", `{"port":"16993","delay":1}`)
			_, _ = s.Read()
			return nil
		})
		_, err := rpc.Run(context.Background(), newDevice(t), rpc.Config{URL: url, Command: rpc.ActivateCommand("p", false)})
		require.ErrorContains(t, err, "port_switch")
	})
	t.Run("unreachable device gives quiet rounds", func(t *testing.T) {
		d := newDevice(t)
		d.SetReachable(false)
		url := server(t, func(s *rpstest.Session) error {
			_ = s.Send("wsman", "", base64.StdEncoding.EncodeToString([]byte("POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")))
			return s.Send("error", `{"Status":"Unable to authenticate with AMT"}`, "")
		})
		res, err := rpc.Run(context.Background(), d, rpc.Config{URL: url, Command: rpc.ActivateCommand("p", false), FirstByte: 50 * time.Millisecond})
		require.NoError(t, err)
		require.Equal(t, "Unable to authenticate with AMT", res.Text())
		require.Equal(t, 1, res.Exchanges)
	})
	t.Run("wrong password gives three 401s", func(t *testing.T) {
		d := newDevice(t)
		activate(t, d)
		url := server(t, func(s *rpstest.Session) error {
			status, _, err := s.WSMan(getURI, gsURI, "", "")
			if status != http.StatusUnauthorized || err == nil {
				return errors.New("wrong password was accepted")
			}
			return s.Send("error", `{"Status":"`+err.Error()+`"}`, "")
		})
		res, err := rpc.Run(context.Background(), d, rpc.Config{URL: url, Command: rpc.ActivateCommand("p", false), Password: "Wr0ng!pass"})
		require.NoError(t, err)
		require.Equal(t, "Unable to authenticate with AMT", res.Text())
		require.Equal(t, 3, res.Exchanges)
	})
	t.Run("provisioned device needs a password", func(t *testing.T) {
		d := newDevice(t)
		activate(t, d)
		_, err := rpc.Run(context.Background(), d, rpc.Config{URL: "ws://127.0.0.1:1/", Command: rpc.ActivateCommand("p", false)})
		require.ErrorIs(t, err, rpc.ErrMissingPassword)
	})
}

func TestSetupHashCheckedThroughRelay(t *testing.T) {
	d := newDevice(t)
	url := server(t, func(s *rpstest.Session) error {
		if _, _, err := s.WSMan(getURI, gsURI, "", ""); err != nil {
			return err
		}
		rv, _, err := s.Method(hbsURI, "Setup", `<h:NetAdminPassEncryptionType>2</h:NetAdminPassEncryptionType><h:NetworkAdminPassword>Intel123!</h:NetworkAdminPassword>`)
		if err != nil || rv != 3 {
			return errors.New("a plain-text password must be refused with InvalidParam (3)")
		}
		return s.Send("error", `{"Status":"Failed to activate in client control mode."}`, "")
	})
	res, err := rpc.Run(context.Background(), d, rpc.Config{URL: url, Command: rpc.ActivateCommand("p", false)})
	require.NoError(t, err)
	require.False(t, res.OK())
	require.Equal(t, amtsim.PreProvisioning, d.Mode())
}

func TestCommands(t *testing.T) {
	// protocol-rps-activation §7.10 command strings.
	require.Equal(t, "activate --profile profile01", rpc.ActivateCommand("profile01", false))
	require.Equal(t, "deactivate --password password -f", rpc.DeactivateCommand("password", true))
	require.Equal(t, "maintenance -password password --synctime", rpc.MaintenanceCommand("password", "synctime", "", false))
	require.Equal(t, "maintenance -password password --changepassword a_static_password",
		rpc.MaintenanceCommand("password", "changepassword", "a_static_password", false))
	// A zero message marshals in rpc-go's key order (TestListen vector, §1.2).
	b, err := json.Marshal(rpc.Message{Status: "test"})
	require.NoError(t, err)
	require.Equal(t, `{"method":"","apiKey":"","appVersion":"","protocolVersion":"","status":"test","message":"","fqdn":"","payload":"","tenantId":""}`, string(b))
}
