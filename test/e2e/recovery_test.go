package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	computev1 "github.com/open-edge-platform/infra-core/inventory/v2/pkg/api/compute/v1"

	"github.com/dmrm/dm-manager/internal/auth"
	"github.com/dmrm/dm-manager/internal/auth/authtest"
	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
	"github.com/dmrm/dm-manager/test/amtsim"
)

// TestRecovery covers out-of-band recovery through REST (issue 16) on simulated devices that dm-manager
// activated (ACM on AMT 16, CCM on AMT 14) or imported (CCM): one-time boots with a reset or power on, a plain
// power action, Remote Platform Erase to completion, alarm clock wake; and the refusals (CCM, old firmware,
// another tenant, a read-only token), which must send nothing that changes the device.
func TestRecovery(t *testing.T) {
	d := startDM(t, "dmm_e2e_recovery_test")
	tenant, other := d.newTenant(t), d.newTenant(t)
	pki := certtest.New(t)
	code, body := d.rest(t, http.MethodPost, tenant, "amt/admin/domains", userToken(t, tenant),
		domainBody("e2e-recovery", certtest.Suffix, pki.PFX(t, certtest.Password), certtest.Password))
	require.Equal(t, http.StatusCreated, code, body)

	var skew atomic.Int64 // the ACM device's clock offset, moved to make an alarm due soon
	acm := recoveryDevice(t, d, tenant, amtsim.Config{DNSSuffix: certtest.Suffix,
		Clock: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }}, pki,
		computev1.AmtControlMode_AMT_CONTROL_MODE_ACM)
	require.Equal(t, amtsim.AdminControl, acm.Mode())
	old := recoveryDevice(t, d, tenant, amtsim.Config{Version: "14.1.70"}, nil, computev1.AmtControlMode_AMT_CONTROL_MODE_CCM)
	imported := d.provisioned(t, tenant, 1)[0]
	d.connect(imported)
	imported.waitLink(t, true)

	tok := userToken(t, tenant)
	t.Run("reset to PXE", func(t *testing.T) { resetToPXE(t, d, tenant, tok, acm) })
	t.Run("refusals send nothing", func(t *testing.T) { recoveryRefusals(t, d, tenant, other, tok, acm, old, imported) })
	t.Run("HTTPS boot and BIOS setup", func(t *testing.T) { httpsAndBIOS(t, d, tenant, tok, acm) })
	t.Run("alarm clock wake", func(t *testing.T) { alarmWake(t, d, tenant, tok, acm, &skew) })
	t.Run("remote platform erase", func(t *testing.T) { platformErase(t, d, tenant, tok, acm) })
}

// recoveryDevice activates a new device through dm-manager (mode as given; ACM trusts pki) and brings its
// tunnel up. The host has no desired power state, so the host reconciler leaves power to these tests.
func recoveryDevice(t *testing.T, d *dm, tenant string, cfg amtsim.Config, pki *certtest.PKI, mode computev1.AmtControlMode) *simDevice {
	t.Helper()
	dev := newDevice(t, cfg)
	if pki != nil {
		dev.AddRootHash(amtsim.NewRootHash("dm-manager e2e root", pki.Root.Raw))
	}
	d.createHost(t, tenant, dev.guid, func(h *computev1.HostResource) {
		h.DesiredAmtState = amtProvisioned
		h.AmtControlMode = mode
		h.DesiredPowerState = computev1.PowerState_POWER_STATE_UNSPECIFIED
	})
	d.activated(t, dev, tenant)
	d.connect(dev)
	dev.waitLink(t, true)
	return dev
}

func readOnlyToken(t *testing.T, tenant string) string {
	return tokenSeen(authtest.HS256(t, authtest.Claims("default-roles-master", tenant+"_"+auth.RoleIMR)))
}

func resetToPXE(t *testing.T, d *dm, tenant, tok string, dev *simDevice) {
	before := dev.State().Boots
	resets := powerRequests(t, dev)[auditReset]
	code, body := d.rest(t, http.MethodPost, tenant, "amt/power/bootOptions/"+dev.guid, tok,
		map[string]any{"action": 400, "useSOL": false})
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"ReturnValue":0,"ReturnValueStr":"SUCCESS"}`, jsonField(t, body, "Body"))
	s := dev.waitState(t, "one-time PXE boot after a reset", func(s amtsim.State) bool {
		return s.Boots > before && s.LastBootTarget == "pxe" && s.LastBootCause == "reset"
	})
	require.Empty(t, s.BootOverride, "the override was for one boot")
	require.Equal(t, resets+1, powerRequests(t, dev)[auditReset], "exactly one reset reached AMT")
	requireEvent(t, d, tenant, tok, dev.guid, "boot_override", "Reset to PXE (action 400)")

	// A plain reset after it boots the default target: the override is gone.
	code, body = d.rest(t, http.MethodPost, tenant, "amt/power/action/"+dev.guid, tok, map[string]any{"action": 10})
	require.Equal(t, http.StatusOK, code, body)
	dev.waitState(t, "default boot", func(s amtsim.State) bool { return s.Boots > before+1 && s.LastBootTarget == "default" })
	dev.waitState(t, "OS up", runningOS)
}

// requireNothingWritten runs call and requires that the device received no write (Put, method, Delete).
func requireNothingWritten(t *testing.T, devs []*simDevice, call func()) {
	t.Helper()
	before := make([]amtsim.RequestCounts, len(devs))
	for i, dev := range devs {
		before[i] = dev.Requests()
	}
	call()
	for i, dev := range devs {
		require.Equal(t, before[i].Writes, dev.Requests().Writes, "device %s received a write", dev.guid)
	}
}

func recoveryRefusals(t *testing.T, d *dm, tenant, other, tok string, acm, old, imported *simDevice) {
	pxe := map[string]any{"action": 400, "useSOL": false}
	erase := map[string]any{"secureEraseAllSSDs": true, "confirm": ""}
	all := []*simDevice{acm, old, imported}
	requireNothingWritten(t, all, func() {
		before := acm.Requests()
		code, body := d.rest(t, http.MethodPost, tenant, "amt/power/bootOptions/"+acm.guid, readOnlyToken(t, tenant), pxe)
		require.Equal(t, http.StatusForbidden, code, "im-r token: %s", body)
		code, body = d.rest(t, http.MethodPost, other, "amt/power/bootOptions/"+acm.guid, userToken(t, other), pxe)
		require.Equal(t, http.StatusNotFound, code, "another tenant: %s", body)
		code, body = d.rest(t, http.MethodPost, tenant, "amt/power/bootOptions/"+acm.guid, userToken(t, other), pxe)
		require.Equal(t, http.StatusForbidden, code, "another tenant's token on this tenant's path: %s", body)
		require.Equal(t, before, acm.Requests(), "nothing at all reached the device")

		// Power on to PXE while the host is on: refused after reading the power state.
		code, body = d.rest(t, http.MethodPost, tenant, "amt/power/bootOptions/"+acm.guid, tok,
			map[string]any{"action": 401, "useSOL": false})
		require.Equal(t, http.StatusConflict, code, body)
		require.Contains(t, body, "action 400")

		// HTTPS boot on AMT 14 (no One-Click Recovery), and with credentials anywhere.
		https := map[string]any{"action": 105, "useSOL": false, "bootDetails": map[string]any{"url": "https://boot.example.com/r.efi"}}
		code, body = d.rest(t, http.MethodPost, tenant, "amt/power/bootOptions/"+old.guid, tok, https)
		require.Equal(t, http.StatusBadRequest, code, body)
		require.Contains(t, body, "does not offer UEFI HTTPS boot")
		code, body = d.rest(t, http.MethodPost, tenant, "amt/power/bootOptions/"+acm.guid, tok, map[string]any{
			"action": 105, "useSOL": false, "bootDetails": map[string]any{"url": "https://boot.example.com/r.efi", "username": "u", "password": "p"}})
		require.Equal(t, http.StatusBadRequest, code, body)
		code, body = d.rest(t, http.MethodPost, tenant, "amt/power/bootOptions/"+acm.guid, tok, map[string]any{"action": 301, "useSOL": false})
		require.Equal(t, http.StatusBadRequest, code, body)
		require.Contains(t, body, "plain reset")

		// Erase: CCM known from activation (nothing sent), CCM learned from the device (reads only), no confirmation.
		erase["confirm"] = old.guid
		before = old.Requests()
		code, body = d.rest(t, http.MethodPost, tenant, "amt/boot/remoteErase/"+old.guid, tok, erase)
		require.Equal(t, http.StatusBadRequest, code, body)
		require.Contains(t, body, "admin control mode")
		require.Equal(t, before, old.Requests(), "refused from the device record")
		erase["confirm"] = imported.guid
		code, body = d.rest(t, http.MethodPost, tenant, "amt/boot/remoteErase/"+imported.guid, tok, erase)
		require.Equal(t, http.StatusBadRequest, code, body)
		require.Contains(t, body, "admin control mode")
		erase["confirm"] = "yes"
		code, body = d.rest(t, http.MethodPost, tenant, "amt/boot/remoteErase/"+acm.guid, tok, erase)
		require.Equal(t, http.StatusBadRequest, code, body)
		require.Contains(t, body, "confirm")
		code, body = d.rest(t, http.MethodPost, other, "amt/boot/remoteErase/"+acm.guid, userToken(t, other),
			map[string]any{"tpmClear": true, "confirm": acm.guid})
		require.Equal(t, http.StatusNotFound, code, body)
		code, body = d.rest(t, http.MethodPost, tenant, "amt/boot/remoteErase/"+acm.guid, readOnlyToken(t, tenant),
			map[string]any{"tpmClear": true, "confirm": acm.guid})
		require.Equal(t, http.StatusForbidden, code, body)
	})
	code, body := d.rest(t, http.MethodGet, tenant, "amt/boot/remoteErase/"+old.guid, readOnlyToken(t, tenant), nil)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"rpeSupported":false`)
	require.Empty(t, acm.State().Erase, "no erase happened")
}

func httpsAndBIOS(t *testing.T, d *dm, tenant, tok string, dev *simDevice) {
	const url = "https://boot.example.com/images/recovery.efi"
	before := dev.State().Boots
	code, body := d.rest(t, http.MethodPost, tenant, "amt/power/bootOptions/"+dev.guid, tok, map[string]any{
		"action": 105, "useSOL": false, "bootDetails": map[string]any{"url": url}})
	require.Equal(t, http.StatusOK, code, body)
	dev.waitState(t, "HTTPS boot", func(s amtsim.State) bool {
		return s.Boots > before && s.LastBootTarget == "https" && s.HTTPSBootURL == url
	})
	// WinRE without a path: the BIOS's WinRE option is found; PBA by its path.
	code, body = d.rest(t, http.MethodPost, tenant, "amt/power/bootOptions/"+dev.guid, tok, map[string]any{"action": 109, "useSOL": false})
	require.Equal(t, http.StatusOK, code, body)
	dev.waitState(t, "WinRE boot", func(s amtsim.State) bool {
		return s.LastBootTarget == "winre" && s.EFIBootPath == `\EFI\Microsoft\Boot\winre.efi`
	})
	code, body = d.rest(t, http.MethodPost, tenant, "amt/power/bootOptions/"+dev.guid, tok, map[string]any{"action": 107,
		"useSOL": false, "bootDetails": map[string]any{"bootPath": `\EFI\Vendor\PBA.efi`}})
	require.Equal(t, http.StatusOK, code, body)
	dev.waitState(t, "PBA boot", func(s amtsim.State) bool {
		return s.LastBootTarget == "pba" && s.EFIBootPath == `\EFI\Vendor\PBA.efi`
	})
	before = dev.State().Boots
	code, body = d.rest(t, http.MethodPost, tenant, "amt/power/bootOptions/"+dev.guid, tok, map[string]any{"action": 101, "useSOL": false})
	require.Equal(t, http.StatusOK, code, body)
	s := dev.waitState(t, "BIOS setup", func(s amtsim.State) bool { return s.Boots > before && s.LastBootTarget == "bios" })
	require.False(t, s.OSRunning)
	code, body = d.rest(t, http.MethodPost, tenant, "amt/power/action/"+dev.guid, tok, map[string]any{"action": 10})
	require.Equal(t, http.StatusOK, code, body)
	dev.waitState(t, "OS up after leaving BIOS setup", runningOS)
}

func alarmWake(t *testing.T, d *dm, tenant, tok string, dev *simDevice, skew *atomic.Int64) {
	path := "amt/alarmOccurrences/" + dev.guid
	code, body := d.rest(t, http.MethodPost, tenant, "amt/power/action/"+dev.guid, tok, map[string]any{"action": 8})
	require.Equal(t, http.StatusOK, code, body)
	dev.waitState(t, "off", poweredOff)

	// The device's clock is moved so that its next whole minute is two seconds away.
	now := time.Now()
	at := now.UTC().Truncate(time.Minute).Add(time.Minute)
	skew.Store(int64(at.Sub(now) - 2*time.Second))
	later := at.Add(24 * time.Hour)
	code, body = d.rest(t, http.MethodPost, tenant, path, tok, map[string]any{"ElementName": "wake", "StartTime": at.Format(time.RFC3339)})
	require.Equal(t, http.StatusOK, code, body)
	code, body = d.rest(t, http.MethodPost, tenant, path, tok, map[string]any{"ElementName": "nightly",
		"StartTime": later.Format(time.RFC3339), "Interval": 1440, "DeleteOnCompletion": false})
	require.Equal(t, http.StatusOK, code, body)
	code, body = d.rest(t, http.MethodPost, tenant, path, tok, map[string]any{"ElementName": "odd",
		"StartTime": later.Add(30 * time.Second).Format(time.RFC3339)})
	require.Equal(t, http.StatusBadRequest, code, body)

	dev.waitState(t, "woken by the alarm", func(s amtsim.State) bool { return runningOS(s) && len(s.Alarms) == 1 })
	code, body = d.rest(t, http.MethodGet, tenant, path, readOnlyToken(t, tenant), nil)
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `[{"ElementName":"nightly","InstanceID":"nightly","StartTime":{"Datetime":"`+later.Format("2006-01-02T15:04:05Z")+
		`"},"Interval":{"Interval":"P1DT0H0M"},"DeleteOnCompletion":false,"InternalInMinutes":1440}]`, body)
	code, body = d.rest(t, http.MethodDelete, tenant, path, tok, map[string]any{"Name": "nightly"})
	require.Equal(t, http.StatusOK, code, body)
	code, body = d.rest(t, http.MethodDelete, tenant, path, tok, map[string]any{"Name": "nightly"})
	require.Equal(t, http.StatusNotFound, code, body)
	require.Contains(t, body, "Alarm instance not found")
	require.Empty(t, dev.State().Alarms)
	requireEvent(t, d, tenant, tok, dev.guid, "alarm_added", `"nightly"`)
	requireEvent(t, d, tenant, tok, dev.guid, "alarm_deleted", `"nightly"`)
	skew.Store(0)
}

func platformErase(t *testing.T, d *dm, tenant, tok string, dev *simDevice) {
	path := "amt/boot/remoteErase/" + dev.guid
	code, body := d.rest(t, http.MethodGet, tenant, path, tok, nil)
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"secureEraseAllSSDs":true,"tpmClear":true,"restoreBIOSToEOM":true,"unconfigureCSME":true,
		"rpeSupported":true,"rpeEnabledInBIOS":true,"platformErase":67174469}`, body)
	code, body = d.rest(t, http.MethodPost, tenant, path, tok, map[string]any{"unconfigureCSME": true, "confirm": dev.guid})
	require.Equal(t, http.StatusBadRequest, code, body)

	code, body = d.rest(t, http.MethodPost, tenant, path, tok, map[string]any{"secureEraseAllSSDs": true, "tpmClear": true,
		"ssdPassword": "Ssd-Passw0rd", "confirm": dev.guid})
	require.Equal(t, http.StatusAccepted, code, body)
	secretSeen("SSD password", "Ssd-Passw0rd")
	code, body = d.rest(t, http.MethodPost, tenant, path, tok, map[string]any{"tpmClear": true, "confirm": dev.guid})
	require.Equal(t, http.StatusConflict, code, "a second erase while the first runs: %s", body)
	code, body = d.rest(t, http.MethodPost, tenant, "amt/power/action/"+dev.guid, tok, map[string]any{"action": 10})
	require.Equal(t, http.StatusConflict, code, "a reset would interrupt the erase: %s", body)

	eventually(t, waitLong, "erase reported completed", func() (bool, string) {
		code, body := d.rest(t, http.MethodGet, tenant, path+"/status", tok, nil)
		return code == http.StatusOK && jsonField(t, body, "state") == `"completed"`, body
	})
	s := dev.State()
	require.Equal(t, "completed", s.Erase.State)
	require.Equal(t, []string{"ssd", "tpm"}, s.Erase.Devices)
	code, body = d.rest(t, http.MethodGet, tenant, path+"/status", tok, nil)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"devices":["secureEraseAllSSDs","tpmClear"]`)
	code, body = d.rest(t, http.MethodPost, tenant, "amt/power/action/"+dev.guid, tok, map[string]any{"action": 10})
	require.Equal(t, http.StatusOK, code, "power actions again once the erase completed: %s", body)
	requireEvent(t, d, tenant, tok, dev.guid, "erase_started", "secureEraseAllSSDs, tpmClear")
	requireEvent(t, d, tenant, tok, dev.guid, "erase_completed", "completed")
}

func jsonField(t *testing.T, body, field string) string {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(body), &m), body)
	return string(m[field])
}

// TestRecoveryLostReset: the answer to a REST reset is lost (AMT's network drops right after it accepted), and
// dm-manager restarts. The journal says the reset was possibly sent, so a retry of the same call after the
// restart is refused (409) and the device sees one reset only.
func TestRecoveryLostReset(t *testing.T) {
	d := startDM(t, "dmm_e2e_recovery_lost_test")
	tenant := d.newTenant(t)
	var armed, fired atomic.Bool
	var dev *simDevice
	dev = newDevice(t, amtsim.Config{OnChange: func(_ *amtsim.Device, _ amtsim.State) {
		// Runs in the WS-Man handler right after AMT accepted the request, before the answer is written.
		if n, _ := auditCounts(dev); armed.Load() && n[auditReset] == 1 && fired.CompareAndSwap(false, true) {
			dev.SetReachable(false)
		}
	}})
	d.createHost(t, tenant, dev.guid, func(h *computev1.HostResource) {
		h.DesiredAmtState = amtProvisioned
		h.DesiredPowerState = computev1.PowerState_POWER_STATE_UNSPECIFIED
	})
	d.activated(t, dev, tenant)
	d.connect(dev)
	dev.waitLink(t, true)
	tok := userToken(t, tenant)
	pxe := map[string]any{"action": 400, "useSOL": false}

	armed.Store(true)
	code, body := d.rest(t, http.MethodPost, tenant, "amt/power/bootOptions/"+dev.guid, tok, pxe)
	require.Equal(t, http.StatusBadGateway, code, body)
	require.Contains(t, body, "may or may not have reached AMT")
	dev.waitLink(t, false)

	d.stopRun(t)
	d.run(t)
	dev.SetReachable(true)
	dev.waitLink(t, true)
	dev.waitState(t, "the PXE boot happened", func(s amtsim.State) bool { return s.LastBootTarget == "pxe" })
	eventually(t, waitLong, "device reachable through REST again", func() (bool, string) {
		code, body := d.rest(t, http.MethodGet, tenant, "amt/power/capabilities/"+dev.guid, tok, nil)
		return code == http.StatusOK, body
	})
	requireNothingWritten(t, []*simDevice{dev}, func() {
		code, body = d.rest(t, http.MethodPost, tenant, "amt/power/bootOptions/"+dev.guid, tok, pxe)
		require.Equal(t, http.StatusConflict, code, body)
		require.Contains(t, body, "outcome is unknown")
	})
	require.Equal(t, 1, powerRequests(t, dev)[auditReset], "the reset is never sent twice")
}

// requireEvent waits until the device's audit trail (GET /dm/events?guid=) holds an "api" event of kind, outcome
// ok, whose message contains text.
func requireEvent(t *testing.T, d *dm, tenant, tok, guid, kind, text string) {
	t.Helper()
	eventually(t, waitLong, kind+" in the device's events", func() (bool, string) {
		code, body := d.rest(t, http.MethodGet, tenant, "events?guid="+guid, tok, nil)
		var out struct {
			Events []struct{ Kind, Message, Source, Outcome string } `json:"events"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &out) != nil {
			return false, body
		}
		for _, e := range out.Events {
			if e.Kind == kind && e.Source == "api" && e.Outcome == "ok" && strings.Contains(e.Message, text) {
				return true, ""
			}
		}
		return false, body
	})
}
