package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/amt"
)

// TestDeviceInfo reads the device-info routes MPS serves from the classes of issue 13 (hardwareInfo with its
// media, package, packaging and chip parts, and the event log) from a simulated device over its CIRA tunnel, and
// checks that another tenant gets nothing.
func TestDeviceInfo(t *testing.T) {
	d := startDM(t, "dmm_e2e_devinfo_test")
	tenant := d.newTenant(t)
	other := d.newTenant(t)
	dev := d.provisioned(t, tenant, 1)[0]
	online(t, d, tenant, dev, ordered)
	own, stranger := userToken(t, tenant), userToken(t, other)
	eventually(t, waitLong, "device record connected", func() (bool, string) {
		code, body := d.rest(t, http.MethodGet, tenant, "devices/"+dev.guid, own, nil)
		return code == http.StatusOK && strings.Contains(body, `"connectionStatus":true`), body
	})

	code, body := d.rest(t, http.MethodGet, tenant, "amt/hardwareInfo/"+dev.guid, own, nil)
	require.Equal(t, http.StatusOK, code, body)
	var hw map[string]struct {
		Response  map[string]any   `json:"response"`
		Responses []map[string]any `json:"responses"`
		Status    int              `json:"status"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &hw))
	require.Len(t, hw, 10)
	for class, v := range hw {
		require.Equal(t, http.StatusOK, v.Status, "%s: %s", class, body)
	}
	require.Equal(t, "MEDIA DEV 0", hw["CIM_MediaAccessDevice"].Responses[0]["DeviceID"])
	require.Equal(t, "CIM_Card", hw["CIM_PhysicalPackage"].Responses[0]["Tag"])
	require.Equal(t, dev.GUID().RawHex(), hw["CIM_SystemPackaging"].Responses[0]["PlatformGUID"])
	require.Equal(t, "CPU 0", hw["CIM_Chip"].Responses[0]["Tag"])

	code, body = d.rest(t, http.MethodGet, tenant, "amt/log/event/"+dev.guid, own, nil)
	require.Equal(t, http.StatusOK, code, body)
	var events []struct {
		EventSensorType int
		EventData       []int
		TimeStamp       string
		EntityStr       string
		Desc            *string
	}
	require.NoError(t, json.Unmarshal([]byte(body), &events))
	raw := dev.EventRecords()
	require.Len(t, events, len(raw), body)
	for i, b := range raw {
		rec, err := amt.DecodeEventRecord(b)
		require.NoError(t, err)
		require.Equal(t, rec.Time.Format("2006-01-02T15:04:05.000Z"), events[i].TimeStamp)
		require.Equal(t, int(rec.EventSensorType), events[i].EventSensorType)
	}
	last := events[len(events)-1]
	require.Equal(t, "BIOS", last.EntityStr)
	require.NotNil(t, last.Desc)
	require.Equal(t, "Starting operating system boot process", *last.Desc)

	code, body = d.rest(t, http.MethodGet, tenant, "amt/log/event/"+dev.guid, stranger, nil)
	require.Equal(t, http.StatusForbidden, code, "other tenant's user on this tenant's path: %s", body)
	for _, path := range []string{"amt/log/event/", "amt/hardwareInfo/"} {
		code, body = d.rest(t, http.MethodGet, other, path+dev.guid, stranger, nil)
		require.Equal(t, http.StatusNotFound, code, "%s on the other tenant's path: %s", path, body)
	}
}
