package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
	"github.com/dmrm/dm-manager/internal/store"
)

const guidCCM = "22222222-3333-4444-8555-666666666666" // tenant A, CCM from activation

func recoveryEnv(t *testing.T) (*env, *memJournal) {
	j := &memJournal{}
	e := newEnv(t, func(o *Options) {
		o.Journal = j
		devs := o.Devices.(memDevices)
		devs[guidCCM] = store.Device{GUID: guidCCM, TenantID: tenantA, ControlMode: store.ControlModeCCM}
	})
	e.amt.connected[guidCCM] = true
	r := e.amt.rec()
	r.info = amt.RecoveryInfo{
		Capabilities: amt.BootCapabilities{BIOSSetup: true, ForcePXEBoot: true, IDER: true, ForceUEFIHTTPSBoot: true,
			PlatformErase: amt.EraseSupported | amt.EraseAllSSDs | amt.EraseTPMClear},
		Settings: amt.BootSettingData{UEFIHTTPSBootEnabled: true, RPEEnabled: true},
		Sources:  []amt.BootSourceSetting{{InstanceID: amt.BootSourcePXE}, {InstanceID: amt.BootSourceHTTPS}},
		Setup:    amt.SetupAndConfigurationService{ProvisioningMode: 1},
	}
	return e, j
}

func recoveryPath(route, guid string) string {
	return "/v1/projects/" + tenantA + "/dm/amt/" + route + "/" + guid
}

// Requests that are refused before anything is written to the device, with the answer's status and a text it
// must contain.
func TestRecoveryRefusals(t *testing.T) {
	future := time.Now().UTC().Truncate(time.Minute).Add(2 * time.Hour)
	for _, tc := range []struct {
		name, method, route, guid string
		body                      any
		edit                      func(*recoveryFake)
		status                    int
		want                      string
	}{
		{"no useSOL", "POST", "power/bootOptions", guidA, map[string]any{"action": 400}, nil, 400, "useSOL is required"},
		{"unknown action", "POST", "power/bootOptions", guidA, map[string]any{"action": 999, "useSOL": false}, nil, 400, "not a boot action"},
		{"diagnostic", "POST", "power/bootOptions", guidA, map[string]any{"action": 301, "useSOL": false}, nil, 400, "plain reset"},
		{"HTTPS without url", "POST", "power/bootOptions", guidA, map[string]any{"action": 105, "useSOL": false}, nil, 400, "bootDetails.url"},
		{"HTTPS with credentials", "POST", "power/bootOptions", guidA, map[string]any{"action": 105, "useSOL": false,
			"bootDetails": map[string]any{"url": "https://x.example/b.efi", "password": "pw"}}, nil, 400, "types 40/41"},
		{"HTTPS url not http(s)", "POST", "power/bootOptions", guidA, map[string]any{"action": 105, "useSOL": false,
			"bootDetails": map[string]any{"url": "tftp://x.example/b.efi"}}, nil, 400, "absolute http(s) URL"},
		{"HTTPS not in firmware", "POST", "power/bootOptions", guidA, map[string]any{"action": 105, "useSOL": false,
			"bootDetails": map[string]any{"url": "https://x.example/b.efi"}},
			func(r *recoveryFake) { r.info.Capabilities.ForceUEFIHTTPSBoot = false }, 400, "does not offer UEFI HTTPS boot"},
		{"HTTPS off in BIOS", "POST", "power/bootOptions", guidA, map[string]any{"action": 106, "useSOL": false,
			"bootDetails": map[string]any{"url": "https://x.example/b.efi"}},
			func(r *recoveryFake) { r.info.Settings.UEFIHTTPSBootEnabled, r.power = false, amt.PowerOffSoft }, 400, "disabled in this device's BIOS"},
		{"secure boot off in CCM", "POST", "power/bootOptions", guidCCM, map[string]any{"action": 105, "useSOL": false,
			"bootDetails": map[string]any{"url": "https://x.example/b.efi", "enforceSecureBoot": false}}, nil, 400, "cannot be turned off in CCM"},
		{"PBA without path", "POST", "power/bootOptions", guidA, map[string]any{"action": 107, "useSOL": false}, nil, 400, "bootDetails.bootPath"},
		{"PBA unknown path", "POST", "power/bootOptions", guidA, map[string]any{"action": 107, "useSOL": false,
			"bootDetails": map[string]any{"bootPath": `\EFI\x.efi`}}, func(r *recoveryFake) {
			r.info.Capabilities.ForceUEFILocalPBABoot, r.info.Settings.UEFILocalPBABootEnabled = true, true
		}, 400, "lists no boot option"},
		{"WinRE not offered", "POST", "power/bootOptions", guidA, map[string]any{"action": 109, "useSOL": false}, nil, 400, "does not offer a WinRE boot"},
		{"reset while off", "POST", "power/bootOptions", guidA, map[string]any{"action": 400, "useSOL": false},
			func(r *recoveryFake) { r.power = amt.PowerOffSoft }, 409, "action 401"},
		{"power on while on", "POST", "power/bootOptions", guidA, map[string]any{"action": 401, "useSOL": false}, nil, 409, "action 400"},
		{"power action out of range", "POST", "power/action", guidA, map[string]any{"action": 400}, nil, 400, "from 2 to 16"},
		{"erase unconfirmed", "POST", "boot/remoteErase", guidA, map[string]any{"tpmClear": true}, nil, 400, "set confirm to the device GUID"},
		{"erase nothing", "POST", "boot/remoteErase", guidA, map[string]any{"confirm": guidA}, nil, 400, "At least one erase option"},
		{"erase CSME", "POST", "boot/remoteErase", guidA, map[string]any{"unconfigureCSME": true, "confirm": guidA}, nil, 400, "never reconnect"},
		{"erase long password", "POST", "boot/remoteErase", guidA, map[string]any{"tpmClear": true, "confirm": guidA,
			"ssdPassword": strings.Repeat("p", 33)}, nil, 400, "at most 32 bytes"},
		{"erase CCM", "POST", "boot/remoteErase", guidCCM, map[string]any{"tpmClear": true, "confirm": guidCCM}, nil, 400, "client control mode"},
		{"erase device in CCM", "POST", "boot/remoteErase", guidA, map[string]any{"tpmClear": true, "confirm": guidA},
			func(r *recoveryFake) { r.info.Setup.ProvisioningMode = 4 }, 400, "not in ACM"},
		{"erase unsupported", "POST", "boot/remoteErase", guidA, map[string]any{"tpmClear": true, "confirm": guidA},
			func(r *recoveryFake) { r.info.Capabilities.PlatformErase = 0 }, 400, "does not support Remote Platform Erase"},
		{"erase item unsupported", "POST", "boot/remoteErase", guidA, map[string]any{"restoreBIOSToEOM": true, "confirm": guidA},
			nil, 400, "not supported by this device: restoreBIOSToEOM"},
		{"erase off in BIOS", "POST", "boot/remoteErase", guidA, map[string]any{"tpmClear": true, "confirm": guidA},
			func(r *recoveryFake) { r.info.Settings.RPEEnabled = false }, 400, "disabled in this device's BIOS setup"},
		{"alarm seconds", "POST", "alarmOccurrences", guidA, map[string]any{"ElementName": "a",
			"StartTime": future.Add(10 * time.Second).Format(time.RFC3339)}, nil, 400, "whole minute"},
		{"alarm past", "POST", "alarmOccurrences", guidA, map[string]any{"ElementName": "a",
			"StartTime": future.Add(-4 * time.Hour).Format(time.RFC3339)}, nil, 400, "in the future"},
		{"alarm name", "POST", "alarmOccurrences", guidA, map[string]any{"ElementName": strings.Repeat("n", 33),
			"StartTime": future.Format(time.RFC3339)}, nil, 400, "1 to 32 characters"},
		{"alarm instance id", "POST", "alarmOccurrences", guidA, map[string]any{"ElementName": "a", "InstanceID": "b",
			"StartTime": future.Format(time.RFC3339)}, nil, 400, "omit InstanceID"},
		{"alarm delete without name", "DELETE", "alarmOccurrences", guidA, map[string]any{}, nil, 400, "needs Name"},
		{"other tenant's device", "POST", "power/bootOptions", guidB, map[string]any{"action": 400, "useSOL": false}, nil, 404, notConnectedText},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := recoveryEnv(t)
			if tc.edit != nil {
				tc.edit(e.amt.rec())
			}
			code, body, _ := e.do(tc.method, recoveryPath(tc.route, tc.guid), rw(t, tenantA), tc.body)
			require.Equal(t, tc.status, code, string(body))
			require.Contains(t, string(body), tc.want)
			require.Empty(t, e.amt.rec().writes, "nothing is written to the device")
		})
	}
}

func TestRecoveryReadOnlyToken(t *testing.T) {
	e, _ := recoveryEnv(t)
	for _, route := range []string{"power/bootOptions", "power/action", "boot/remoteErase", "alarmOccurrences"} {
		code, body, _ := e.do(http.MethodPost, recoveryPath(route, guidA), ro(t, tenantA), map[string]any{"action": 400, "useSOL": false})
		require.Equal(t, http.StatusForbidden, code, "%s: %s", route, body)
	}
	require.Empty(t, e.amt.rec().writes)
}

// The power action's journal entry: written before sending, and what became of it afterwards.
func TestRecoveryJournal(t *testing.T) {
	pxe := map[string]any{"action": 400, "useSOL": false}
	path := recoveryPath("power/bootOptions", guidA)

	e, j := recoveryEnv(t)
	code, body, _ := e.do(http.MethodPost, path, rw(t, tenantA), pxe)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, []string{"ArmBoot", "RequestPowerStateChange"}, e.amt.rec().writes)
	got, err := j.GetJournal(t.Context(), guidA, store.OpBoot)
	require.NoError(t, err)
	require.Equal(t, stepSent, got.Step)
	require.Equal(t, edgePlan{Action: 400, PowerState: 10, Target: "pxe"}, planOf(got))

	// AMT refuses: MPS's 200 with the ReturnValue; the entry says refused.
	e, j = recoveryEnv(t)
	e.amt.rec().powerErr = &wsman.ReturnValueError{Method: "CIM_PowerManagementService.RequestPowerStateChange", Value: 2, Name: "NOT_READY"}
	code, body, _ = e.do(http.MethodPost, path, rw(t, tenantA), pxe)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), `"ReturnValueStr":"NOT_READY"`)
	got, err = j.GetJournal(t.Context(), guidA, store.OpBoot)
	require.NoError(t, err)
	require.Equal(t, stepRefused, got.Step)
	require.False(t, got.HardActionSent)

	// The answer is lost: 502, the entry stays "intent", and the next power action is refused unsent.
	e, j = recoveryEnv(t)
	e.amt.rec().powerErr = errors.New("CIRA session lost after the request was written")
	code, body, _ = e.do(http.MethodPost, recoveryPath("power/action", guidA), rw(t, tenantA), map[string]any{"action": 10})
	require.Equal(t, http.StatusBadGateway, code, string(body))
	got, err = j.GetJournal(t.Context(), guidA, store.OpBoot)
	require.NoError(t, err)
	require.Equal(t, stepIntent, got.Step)
	e.amt.rec().powerErr, e.amt.rec().writes = nil, nil
	code, body, _ = e.do(http.MethodPost, path, rw(t, tenantA), pxe)
	require.Equal(t, http.StatusConflict, code, string(body))
	require.Contains(t, string(body), "outcome is unknown")
	require.Empty(t, e.amt.rec().writes)
	got.StepStartedAt = time.Now().Add(-recoverySettle - time.Second)
	_, _ = j.PutJournal(t.Context(), got)
	code, body, _ = e.do(http.MethodPost, path, rw(t, tenantA), pxe)
	require.Equal(t, http.StatusOK, code, "after the settle time: %s", body)

	// Certainly not sent (no credentials): 500, and the entry does not block the next request.
	e, j = recoveryEnv(t)
	e.amt.rec().powerErr = fmt.Errorf("%w: device has no stored AMT credentials", ErrNotSent)
	code, body, _ = e.do(http.MethodPost, path, rw(t, tenantA), pxe)
	require.Equal(t, http.StatusInternalServerError, code, string(body))
	got, err = j.GetJournal(t.Context(), guidA, store.OpBoot)
	require.NoError(t, err)
	require.Equal(t, stepRefused, got.Step)

	// Without a journal the routes refuse rather than risk a repeat.
	e = newEnv(t)
	code, body, _ = e.do(http.MethodPost, path, rw(t, tenantA), pxe)
	require.Equal(t, http.StatusServiceUnavailable, code, string(body))
}
