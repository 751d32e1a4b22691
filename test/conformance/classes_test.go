package conformance

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

// TestHardwareExtra: the four classes MPS's hardwareInfo enumerates besides the summary (§10.1 "HW extra").
// CIM_PhysicalPackage answers with the base board (the CIM_Card row of §10.1: PackageType 9, Tag CIM_Card) and
// CIM_SystemPackaging with the CIM_ComputerSystemPackage whose PlatformGUID is the raw UUID hex (§2.5, §13).
func TestHardwareExtra(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)

	hw, err := r.admin(false).Hardware(ctx)
	require.NoError(t, err)
	x := hw.Extra
	require.Len(t, x.MediaAccessDevices, 1)
	require.Equal(t, "MEDIA DEV 0", x.MediaAccessDevices[0].DeviceID)
	require.Equal(t, "ManagedSystem", x.MediaAccessDevices[0].SystemName)
	require.NotZero(t, x.MediaAccessDevices[0].MaxMediaSize)
	require.Equal(t, []amt.PhysicalPackage{hw.BaseBoard}, x.PhysicalPackages)
	require.Equal(t, 9, x.PhysicalPackages[0].PackageType)
	require.Equal(t, []amt.ComputerSystemPackage{hw.SystemPackage}, x.SystemPackaging)
	require.Equal(t, r.dev.GUID().RawHex(), x.SystemPackaging[0].PlatformGUID)
	require.Len(t, x.Chips, 1)
	require.Equal(t, "CPU 0", x.Chips[0].Tag)
	require.Contains(t, x.Chips[0].Version, "Intel(R) Core(TM)")
}

// TestEventLog reads AMT_MessageLog as MPS does (§10.1: PositionToFirstRecord, then GetRecords with MaxReadRecords
// 390), byte for byte against what the simulator logged, in the §10.6 layout; a reset logs another boot.
func TestEventLog(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)
	c := r.admin(false)

	recs, err := c.EventLog(ctx)
	require.NoError(t, err)
	raw := r.dev.EventRecords()
	require.NotEmpty(t, recs)
	require.Len(t, recs, len(raw))
	for i, b := range raw {
		require.Len(t, b, 21, "§10.6: 21-byte records")
		dec, err := amt.DecodeEventRecord(b)
		require.NoError(t, err)
		require.Equal(t, dec, recs[i])
	}
	// The boot: System Firmware Progress (sensor type 15, offset 2, EventData[0] 64 like the §13 vector) ending
	// with "starting operating system boot" (19), oldest first.
	last := recs[len(recs)-1]
	require.Equal(t, uint8(15), last.EventSensorType)
	require.Equal(t, uint8(2), last.EventOffset)
	require.Equal(t, [8]uint8{64, 19}, last.EventData)
	require.False(t, recs[0].Time.After(last.Time))

	from := r.hist.mark()
	require.NoError(t, c.RequestPowerStateChange(ctx, amt.MasterBusReset))
	r.hist.await(ctx, t, from, osDown, osUp)
	again, err := c.EventLog(ctx)
	require.NoError(t, err)
	require.Len(t, again, 2*len(recs), "a reset logs one more boot")
}

// TestMessageLogPaging pins GetRecords' iteration (README "Class data"): the identifier PositionToFirstRecord gives
// is 1; each answer's identifier continues after its last record; NoMoreRecords marks the end; a position past the
// end is 35 (INVALID_INDEX) and MaxReadRecords 0 is 36 (INVALID_PARAMETER).
func TestMessageLogPaging(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)
	ws := r.admin(false).WSMan()
	uri := wsman.AMT("AMT_MessageLog")
	n := len(r.dev.EventRecords())
	require.Greater(t, n, 2)

	type page struct {
		IterationIdentifier int
		NoMoreRecords       bool
		RecordArray         []string
	}
	get := func(id, limit int64) (page, error) {
		var p page
		resp, err := ws.Invoke(ctx, uri, "GetRecords", wsman.Int("IterationIdentifier", id), wsman.Int("MaxReadRecords", limit))
		if resp != nil {
			require.NoError(t, resp.Decode(&p))
		}
		return p, err
	}
	var pos struct{ IterationIdentifier int }
	resp, err := ws.Invoke(ctx, uri, "PositionToFirstRecord")
	require.NoError(t, err)
	require.NoError(t, resp.Decode(&pos))
	require.Equal(t, 1, pos.IterationIdentifier)

	p, err := get(1, 2)
	require.NoError(t, err)
	require.Equal(t, page{IterationIdentifier: 3, RecordArray: p.RecordArray}, p)
	require.Len(t, p.RecordArray, 2)
	p, err = get(3, 390)
	require.NoError(t, err)
	require.True(t, p.NoMoreRecords)
	require.Len(t, p.RecordArray, n-2)
	require.Equal(t, n+1, p.IterationIdentifier)

	_, err = get(int64(n+2), 10)
	requireReturnValue(t, err, "AMT_MessageLog.GetRecords", 35, "INVALID_INDEX")
	_, err = get(1, 0)
	requireReturnValue(t, err, "AMT_MessageLog.GetRecords", 36, "INVALID_PARAMETER")

	var log struct {
		MaxNumberOfRecords     int
		CurrentNumberOfRecords int
		MaxRecordSize          int
	}
	get1, err := ws.Get(ctx, uri)
	require.NoError(t, err)
	require.NoError(t, get1.Decode(&log))
	require.Equal(t, 390, log.MaxNumberOfRecords)
	require.Equal(t, n, log.CurrentNumberOfRecords)
	require.Equal(t, 21, log.MaxRecordSize)
}

// TestCertificateAndScreenClasses: the associations MPS's certificate read enumerates and the KVM screen layout.
// Each digest account's identity depends on its role (the go-wsman fixture's CIM_Identity -> CIM_Role pair); no TLS
// or 802.1x credential is configured, so CIM_CredentialContext is empty.
func TestCertificateAndScreenClasses(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)
	ws := r.admin(false).WSMan()

	items, err := ws.EnumerateAll(ctx, wsman.CIM("CIM_ConcreteDependency"))
	require.NoError(t, err)
	lsa, _ := r.dev.LSA()
	var ids []string
	for _, it := range items {
		require.Equal(t, "CIM_ConcreteDependency", it.Name)
		var dep struct{ Antecedent, Dependent wsman.EPR }
		require.NoError(t, it.Decode(&dep))
		require.Equal(t, wsman.CIM("CIM_Identity"), dep.Antecedent.ResourceURI)
		require.Equal(t, wsman.CIM("CIM_Role"), dep.Dependent.ResourceURI)
		require.Equal(t, dep.Antecedent.Selector("InstanceID"), dep.Dependent.Selector("Name"))
		ids = append(ids, dep.Antecedent.Selector("InstanceID"))
	}
	require.Equal(t, []string{"Intel(r) AMT:" + lsa, "Intel(r) AMT:admin"}, ids)

	items, err = ws.EnumerateAll(ctx, wsman.CIM("CIM_CredentialContext"))
	require.NoError(t, err)
	require.Empty(t, items)

	items, err = ws.EnumerateAll(ctx, wsman.IPS("IPS_ScreenSettingData"))
	require.NoError(t, err)
	require.Len(t, items, 1)
	var screen struct {
		InstanceID               string
		IsActive                 []bool
		ResolutionX, ResolutionY []int
		PrimaryIndex             int
	}
	require.NoError(t, items[0].Decode(&screen))
	require.Equal(t, "Intel(r) Screen Settings", screen.InstanceID)
	require.Equal(t, []bool{true, false, false, false}, screen.IsActive)
	require.Equal(t, []int{1920, 0, 0, 0}, screen.ResolutionX)
	require.Equal(t, 1, screen.PrimaryIndex)
}
