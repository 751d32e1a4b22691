package amt

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

// protocol-cira-wsman §13 event log vectors.
var eventVectors = []struct {
	b64  string
	want EventRecord
}{
	{"YiexYf8PbwJoAf8AAEASAAAAAAAA", EventRecord{Time: time.Unix(1638999906, 0).UTC(), DeviceAddress: 255,
		EventSensorType: 15, EventType: 111, EventOffset: 2, EventSourceType: 104, EventSeverity: 1, SensorNumber: 255,
		EventData: [8]uint8{64, 18}}},
	{"Y8iYZf8GbwVoEP8mYaoKAAAAAAAA", EventRecord{Time: time.Unix(0x6598c863, 0).UTC(), DeviceAddress: 255,
		EventSensorType: 6, EventType: 111, EventOffset: 5, EventSourceType: 104, EventSeverity: 16, SensorNumber: 255,
		Entity: 38, EntityInstance: 97, EventData: [8]uint8{170, 10}}},
}

func TestDecodeEventRecordVectors(t *testing.T) {
	for _, v := range eventVectors {
		raw, err := base64.StdEncoding.DecodeString(v.b64)
		require.NoError(t, err)
		got, err := DecodeEventRecord(raw)
		require.NoError(t, err)
		require.Equal(t, v.want, got, v.b64)
	}
	_, err := DecodeEventRecord(make([]byte, 20))
	require.ErrorContains(t, err, "20 bytes, want 21")
}

// TestEventLog: PositionToFirstRecord, then GetRecords from its identifier with MaxReadRecords 390 (§10.1 request
// bodies byte for byte), continuing with the returned identifier until NoMoreRecords.
func TestEventLog(t *testing.T) {
	uri := wsman.AMT("AMT_MessageLog")
	c, d := newDevice(t,
		output(uri, "PositionToFirstRecord", `<g:IterationIdentifier>1</g:IterationIdentifier>`, 0),
		output(uri, "GetRecords", `<g:IterationIdentifier>2</g:IterationIdentifier><g:NoMoreRecords>false</g:NoMoreRecords><g:RecordArray>`+eventVectors[0].b64+`</g:RecordArray>`, 0),
		output(uri, "GetRecords", `<g:IterationIdentifier>3</g:IterationIdentifier><g:NoMoreRecords>true</g:NoMoreRecords><g:RecordArray>`+eventVectors[1].b64+`</g:RecordArray>`, 0),
	)
	recs, err := c.EventLog(t.Context())
	require.NoError(t, err)
	require.Equal(t, []EventRecord{eventVectors[0].want, eventVectors[1].want}, recs)
	d.requireRequest(0, uri+"/PositionToFirstRecord", uri, "",
		`<h:PositionToFirstRecord_INPUT xmlns:h="`+uri+`"></h:PositionToFirstRecord_INPUT>`)
	d.requireRequest(1, uri+"/GetRecords", uri, "",
		`<h:GetRecords_INPUT xmlns:h="`+uri+`"><h:IterationIdentifier>1</h:IterationIdentifier><h:MaxReadRecords>390</h:MaxReadRecords></h:GetRecords_INPUT>`)
	d.requireRequest(2, uri+"/GetRecords", uri, "",
		`<h:GetRecords_INPUT xmlns:h="`+uri+`"><h:IterationIdentifier>2</h:IterationIdentifier><h:MaxReadRecords>390</h:MaxReadRecords></h:GetRecords_INPUT>`)
}

func TestEventLogErrors(t *testing.T) {
	uri := wsman.AMT("AMT_MessageLog")
	c, _ := newDevice(t,
		output(uri, "PositionToFirstRecord", `<g:IterationIdentifier>1</g:IterationIdentifier>`, 0),
		output(uri, "GetRecords", `<g:IterationIdentifier>1</g:IterationIdentifier><g:NoMoreRecords>true</g:NoMoreRecords><g:RecordArray>AAAA</g:RecordArray>`, 0))
	_, err := c.EventLog(t.Context())
	require.ErrorContains(t, err, "event record 0: event record: 3 bytes, want 21")

	c, _ = newDevice(t, output(uri, "PositionToFirstRecord", `<g:IterationIdentifier>x</g:IterationIdentifier>`, 0))
	_, err = c.EventLog(t.Context())
	require.ErrorContains(t, err, `IterationIdentifier "x" is not a number`)

	c, _ = newDevice(t, output(uri, "PositionToFirstRecord", `<g:IterationIdentifier>1</g:IterationIdentifier>`, 0),
		output(uri, "GetRecords", `<g:IterationIdentifier>1</g:IterationIdentifier><g:NoMoreRecords>true</g:NoMoreRecords>`, 35))
	_, err = c.EventLog(t.Context())
	var rv *wsman.ReturnValueError
	require.ErrorAs(t, err, &rv)
}

// FuzzDecodeEventRecord: any input decodes without panic, and exactly the 21-byte ones decode.
func FuzzDecodeEventRecord(f *testing.F) {
	for _, v := range eventVectors {
		raw, _ := base64.StdEncoding.DecodeString(v.b64)
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeEventRecord(b)
		if (err == nil) != (len(b) == eventRecordLen) {
			t.Fatalf("len %d: err %v", len(b), err)
		}
		if err == nil && (r.EventData[7] != b[20] || r.Entity != b[11]) {
			t.Fatalf("fields misplaced: %+v from %x", r, b)
		}
	})
}
