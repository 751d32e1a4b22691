package api

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/amt"
)

// eventVectors are the two event records of protocol-cira-wsman §13, decoded.
var eventVectors = []amt.EventRecord{
	{Time: time.Unix(1638999906, 0).UTC(), DeviceAddress: 255, EventSensorType: 15, EventType: 111, EventOffset: 2,
		EventSourceType: 104, EventSeverity: 1, SensorNumber: 255, EventData: [8]uint8{64, 18}},
	{Time: time.Unix(0x6598c863, 0).UTC(), DeviceAddress: 255, EventSensorType: 6, EventType: 111, EventOffset: 5,
		EventSourceType: 104, EventSeverity: 16, SensorNumber: 255, Entity: 38, EntityInstance: 97,
		EventData: [8]uint8{170, 10}},
}

func (f *fakeAMT) EventLog(ctx context.Context, tenant, guid string) ([]amt.EventRecord, error) {
	if err := f.gate(ctx, tenant, guid); err != nil {
		return nil, err
	}
	return eventVectors, nil
}

// TestEventLogRoute: MPS's event log JSON (§11.2) for the §13 records, with their §13 descriptions; tenant-checked
// like every device read.
func TestEventLogRoute(t *testing.T) {
	e := newEnv(t)
	code, body, _ := e.do(http.MethodGet, devicePath(tenantA, "amt/log/event", guidA), ro(t, tenantA), nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.JSONEq(t, `[
		{"DeviceAddress":255,"EventSensorType":15,"EventType":111,"EventOffset":2,"EventSourceType":104,"EventSeverity":1,
		 "SensorNumber":255,"Entity":0,"EntityInstance":0,"EventData":[64,18,0,0,0,0,0,0],
		 "TimeStamp":"2021-12-08T21:45:06.000Z","EntityStr":"Unspecified","Desc":"Calling operating system wake-up vector"},
		{"DeviceAddress":255,"EventSensorType":6,"EventType":111,"EventOffset":5,"EventSourceType":104,"EventSeverity":16,
		 "SensorNumber":255,"Entity":38,"EntityInstance":97,"EventData":[170,10,0,0,0,0,0,0],
		 "TimeStamp":"2024-01-06T03:26:27.000Z","EntityStr":"Intel(r) ME",
		 "Desc":"Authentication failed 10 times. The system may be under attack."}
	]`, string(body))

	for name, guid := range map[string]string{"other tenant": guidB, "not connected": guidOff} {
		code, body, _ := e.do(http.MethodGet, devicePath(tenantA, "amt/log/event", guid), ro(t, tenantA), nil)
		require.Equal(t, http.StatusNotFound, code, name)
		require.Equal(t, errorBody{Error: notConnectedText, ErrorDescription: "guid : " + guid}, decode[errorBody](t, body), name)
	}
	code, _, _ = e.do(http.MethodGet, devicePath(tenantA, "amt/log/event", guidA), ro(t, tenantB), nil)
	require.Equal(t, http.StatusForbidden, code, "a token of another tenant")
}

func TestEventDescriptions(t *testing.T) {
	rec := func(sensor, offset uint8, data ...uint8) amt.EventRecord {
		r := amt.EventRecord{EventSensorType: sensor, EventOffset: offset}
		copy(r.EventData[:], data)
		return r
	}
	str := func(s string) *string { return &s }
	tests := []struct {
		rec  amt.EventRecord
		want *string
	}{
		{rec(15, 0, 0, 1), str("No system memory is physically installed in the system.")},
		{rec(15, 2, 64, 25), str("Primary processor initialization")},
		{rec(15, 2, 235), str("Invalid Data")},
		{rec(15, 2, 64, 200), nil},
		{rec(18, 0, 170, 0x44, 0x33, 0x22, 0x11, 0x66, 0x55, 4), str("Agent watchdog 11223344-5566-... changed to Running")},
		{rec(18, 0, 1), nil},
		{rec(30, 0), str("No bootable media")},
		{rec(37, 0), str("System firmware started (at least one CPU is properly executing).")},
		{rec(99, 0), str("Unknown Sensor Type #99")},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, renderEventRecord(tc.rec).Desc, "%+v", tc.rec)
	}
	require.Equal(t, "Unknown", renderEventRecord(amt.EventRecord{Entity: 200}).EntityStr)
	require.Equal(t, "BIOS", renderEventRecord(amt.EventRecord{Entity: 34}).EntityStr)
}

// TestRenderHardwareExtra: the classes MPS's hardwareInfo enumerates besides the summary, as lists with status 200,
// or status 400 when the firmware gave none.
func TestRenderHardwareExtra(t *testing.T) {
	hw := amt.Hardware{Extra: amt.HardwareExtra{
		MediaAccessDevices: []amt.MediaAccessDevice{{DeviceID: "MEDIA DEV 0", MaxMediaSize: 500107862}},
		PhysicalPackages:   []amt.PhysicalPackage{{Model: "NUC11TNBi5", Tag: "CIM_Card", PackageType: 9}},
		Chips:              []amt.Chip{{Tag: "CPU 0", Version: "11th Gen Intel(R) Core(TM) i5-1135G7 @ 2.40GHz"}},
	}}
	b, err := json.Marshal(renderHardware(hw))
	require.NoError(t, err)
	got := decode[map[string]map[string]any](t, b)
	require.Len(t, got, 10)
	require.EqualValues(t, 200, got["CIM_MediaAccessDevice"]["status"])
	require.Equal(t, "MEDIA DEV 0", got["CIM_MediaAccessDevice"]["responses"].([]any)[0].(map[string]any)["DeviceID"])
	require.EqualValues(t, 500107862, got["CIM_MediaAccessDevice"]["responses"].([]any)[0].(map[string]any)["MaxMediaSize"])
	require.Equal(t, "CIM_Card", got["CIM_PhysicalPackage"]["responses"].([]any)[0].(map[string]any)["Tag"])
	require.Equal(t, "CPU 0", got["CIM_Chip"]["responses"].([]any)[0].(map[string]any)["Tag"])
	require.EqualValues(t, 400, got["CIM_SystemPackaging"]["status"], "none read")
	require.Equal(t, []any{}, got["CIM_SystemPackaging"]["responses"])
}
