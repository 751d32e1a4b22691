package api

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/store"
)

func devicePath(tenant, route, guid string) string {
	return "/v1/projects/" + tenant + "/dm/" + route + "/" + guid
}

func TestDeviceRecord(t *testing.T) {
	seen := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	e := newEnv(t, func(o *Options) {
		o.Devices = memDevices{guidA: {
			GUID: guidA, TenantID: tenantA, CIRAUsername: "dmUser01", ControlMode: store.ControlModeACM,
			DNSSuffix: "example.com", AMTVersion: "16.1.25", AMTBuild: "2049", AMTSKU: "16392",
			ConnectionState: store.ConnectionConnected, OwnerReplica: "dm-manager-0", LastSeenAt: seen, ConnectedAt: seen,
			Facts: []byte(`{"features":"AMT Pro Corporate","ipAddress":"10.0.0.7"}`), UpdatedAt: seen,
		}}
	})
	code, body, _ := e.do(http.MethodGet, devicePath(tenantA, "devices", strings.ToUpper(guidA)), ro(t, tenantA), nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.JSONEq(t, `{
		"guid": "`+guidA+`", "hostname": "", "tags": [], "mpsInstance": "dm-manager-0", "connectionStatus": true,
		"mpsusername": "dmUser01", "tenantId": "`+tenantA+`", "friendlyName": "", "dnsSuffix": "example.com",
		"lastConnected": "2026-03-04T05:06:07Z", "lastSeen": "2026-03-04T05:06:07Z", "lastDisconnected": null,
		"deviceInfo": {"fwVersion": "16.1.25", "fwBuild": "2049", "fwSku": "16392", "currentMode": "2",
			"features": "AMT Pro Corporate", "lastUpdated": "2026-03-04T05:06:07Z"}
	}`, string(body))
}

func TestDeviceNotFound(t *testing.T) {
	e := newEnv(t)
	for name, guid := range map[string]string{"unknown": "12345678-1234-4234-8234-123456789012", "other tenant": guidB} {
		t.Run(name, func(t *testing.T) {
			code, body, _ := e.do(http.MethodGet, devicePath(tenantA, "devices", guid), ro(t, tenantA), nil)
			require.Equal(t, http.StatusNotFound, code)
			require.Equal(t, "Device ID "+guid+" not found", decode[errorBody](t, body).Message)
			for _, route := range []string{"amt/generalSettings", "amt/version", "amt/hardwareInfo", "amt/log/audit",
				"amt/power/capabilities"} {
				code, body, _ := e.do(http.MethodGet, devicePath(tenantA, route, guid), ro(t, tenantA), nil)
				require.Equal(t, http.StatusNotFound, code, route)
				require.Equal(t, errorBody{Error: notConnectedText, ErrorDescription: "guid : " + guid}, decode[errorBody](t, body))
			}
		})
	}
	code, body, _ := e.do(http.MethodGet, devicePath(tenantA, "amt/version", "not-a-guid"), ro(t, tenantA), nil)
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, "params", decode[validationBody](t, body).Errors[0].Location)
}

func TestDeviceAMTErrors(t *testing.T) {
	e := newEnv(t)
	tok := ro(t, tenantA)
	code, body, _ := e.do(http.MethodGet, devicePath(tenantA, "amt/generalSettings", guidOff), tok, nil)
	require.Equal(t, http.StatusNotFound, code, "known device without a CIRA session")
	require.Equal(t, errorBody{Error: notConnectedText, ErrorDescription: "guid : " + guidOff}, decode[errorBody](t, body))

	e.amt.fail = errBoom
	code, body, _ = e.do(http.MethodGet, devicePath(tenantA, "amt/hardwareInfo", guidA), tok, nil)
	require.Equal(t, http.StatusInternalServerError, code)
	require.Equal(t, errorBody{Error: "Internal Server Error", ErrorDescription: "Exception during Hardware Information request"},
		decode[errorBody](t, body))

	e2 := newEnv(t, func(o *Options) { o.RequestTimeout = 50 * time.Millisecond })
	e2.amt.block = true
	code, body, _ = e2.do(http.MethodGet, devicePath(tenantA, "amt/version", guidA), tok, nil)
	require.Equal(t, http.StatusGatewayTimeout, code)
	require.Contains(t, decode[errorBody](t, body).ErrorDescription, "timed out after 50ms")
}

func TestDeviceAMTReads(t *testing.T) {
	e := newEnv(t)
	tok := ro(t, tenantA)
	get := func(route string) string {
		code, body, _ := e.do(http.MethodGet, devicePath(tenantA, route, guidA), tok, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		return string(body)
	}

	gs := decode[map[string]map[string]any](t, []byte(get("amt/generalSettings")))
	require.Equal(t, "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings", gs["Header"]["ResourceURI"])
	require.Equal(t, "Digest:F3EB554784E729164447A89F60B641C5", gs["Body"]["DigestRealm"])
	require.Equal(t, true, gs["Body"]["NetworkInterfaceEnabled"])

	v := decode[map[string]map[string]any](t, []byte(get("amt/version")))
	require.Equal(t, []any{map[string]any{"InstanceID": "AMT", "IsEntity": true, "VersionString": "16.1.25"}},
		v["CIM_SoftwareIdentity"]["responses"])
	require.EqualValues(t, 200, v["AMT_SetupAndConfigurationService"]["status"])
	require.EqualValues(t, 2, v["AMT_SetupAndConfigurationService"]["response"].(map[string]any)["ProvisioningState"])

	hw := decode[map[string]map[string]any](t, []byte(get("amt/hardwareInfo")))
	require.Len(t, hw, 10)
	require.EqualValues(t, 200, hw["CIM_Chassis"]["status"])
	require.Equal(t, "Dell Inc.", hw["CIM_BIOSElement"]["response"].(map[string]any)["Manufacturer"])
	require.Len(t, hw["CIM_Processor"]["responses"], 1)
	require.EqualValues(t, 400, hw["CIM_Card"]["status"], "no base board read")
	require.EqualValues(t, 400, hw["CIM_Chip"]["status"])
}

func TestPowerCapabilities(t *testing.T) {
	for _, tc := range []struct {
		version string
		boot    amt.BootCapabilities
		want    string
	}{
		{"9.5.1", amt.BootCapabilities{}, `{"Power up":2,"Power cycle":5,"Power down":8,"Reset":10,` +
			`"Reset to IDE-R Floppy":200,"Power on to IDE-R Floppy":201,"Reset to IDE-R CDROM":202,"Power on to IDE-R CDROM":203,` +
			`"Reset to PXE":400,"Power on to PXE":401}`},
		{"16.1.25", amt.BootCapabilities{BIOSSetup: true, SecureErase: true, ForceDiagnosticBoot: true},
			`{"Power up":2,"Power cycle":5,"Power down":8,"Reset":10,"Soft-off":12,"Soft-reset":14,"Sleep":4,"Hibernate":7,` +
				`"Power up to BIOS":100,"Reset to BIOS":101,"Reset to Secure Erase":104,` +
				`"Reset to IDE-R Floppy":200,"Power on to IDE-R Floppy":201,"Reset to IDE-R CDROM":202,"Power on to IDE-R CDROM":203,` +
				`"Power on to diagnostic":300,"Reset to diagnostic":301,"Reset to PXE":400,"Power on to PXE":401}`},
	} {
		e := newEnv(t)
		e.amt.version, e.amt.boot = tc.version, tc.boot
		code, body, _ := e.do(http.MethodGet, devicePath(tenantA, "amt/power/capabilities", guidA), ro(t, tenantA), nil)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, tc.want+"\n", string(body), "MPS's keys in MPS's order")
	}
}

// The audit log comes newest first, ten at a time; startIndex s skips the s-1 newest records.
func TestAuditLogPaging(t *testing.T) {
	for _, tc := range []struct {
		total int
		start string
		want  []int // EventIDs (= record numbers) in answer order
		reads []int
	}{
		{0, "", nil, []int{1}},
		{3, "", []int{3, 2, 1}, []int{1}},
		{10, "1", []int{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, []int{1}},
		{15, "", []int{15, 14, 13, 12, 11, 10, 9, 8, 7, 6}, []int{1, 6}},
		{15, "11", []int{5, 4, 3, 2, 1}, []int{1}},
		{15, "6", []int{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, []int{1}},
		{25, "3", []int{23, 22, 21, 20, 19, 18, 17, 16, 15, 14}, []int{1, 14}},
		{25, "0", []int{25, 24, 23, 22, 21, 20, 19, 18, 17, 16}, []int{1, 16}},
		{5, "9", nil, []int{1}},
	} {
		t.Run(strconv.Itoa(tc.total)+"/"+tc.start, func(t *testing.T) {
			e := newEnv(t)
			e.amt.audit = tc.total
			path := devicePath(tenantA, "amt/log/audit", guidA)
			if tc.start != "" {
				path += "?startIndex=" + tc.start
			}
			code, body, _ := e.do(http.MethodGet, path, ro(t, tenantA), nil)
			require.Equal(t, http.StatusOK, code, string(body))
			got := decode[auditLogJSON](t, body)
			require.Equal(t, tc.total, got.TotalCnt)
			var ids []int
			for _, r := range got.Records {
				ids = append(ids, r.EventID)
			}
			require.Equal(t, tc.want, ids)
			require.Equal(t, tc.reads, e.amt.reads)
		})
	}
	e := newEnv(t)
	code, _, _ := e.do(http.MethodGet, devicePath(tenantA, "amt/log/audit", guidA)+"?startIndex=x", ro(t, tenantA), nil)
	require.Equal(t, http.StatusBadRequest, code)
}

// Record rendering against the decoded vectors of protocol-cira-wsman §13.
func TestAuditRecordRendering(t *testing.T) {
	ts := time.Unix(1638267852, 0)
	r := renderAuditRecord(amt.AuditRecord{AppID: 16, EventID: 19, InitiatorType: amt.InitiatorHTTPDigest, Username: "admin",
		Time: ts, MCLocationType: 1, NetAddress: "0000:0000:0000:0000:0000:0000:0000:0001", ExtendedData: []byte{4}})
	require.Equal(t, "Security Admin", r.AuditApp)
	require.Equal(t, "Unprovisioning Started", r.Event)
	require.Equal(t, "admin", r.Initiator)
	require.Equal(t, "2021-11-30T10:24:12.000Z", r.Time)
	require.Equal(t, "::1", r.NetAddress)
	require.Equal(t, "\x04", r.Ex)
	require.Equal(t, "Remote WSMAN", *r.ExStr)

	r = renderAuditRecord(amt.AuditRecord{AppID: 18, EventID: 10, InitiatorType: amt.InitiatorKVM, Time: ts})
	require.Equal(t, "Redirection Manager", r.AuditApp)
	require.Equal(t, "KVM Enabled", r.Event)
	require.Equal(t, "KVM Default Port", r.Initiator)
	require.Nil(t, r.ExStr)

	r = renderAuditRecord(amt.AuditRecord{AppID: 19, EventID: 7, InitiatorType: amt.InitiatorKerberos,
		KerberosSID: []byte{1, 2, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 0xe8, 0x03, 0, 0}})
	require.Equal(t, "#7", r.Event)
	require.Equal(t, "S-1-5-21-1000", r.Initiator)
}
