package amt

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

// EventRecord is one AMT_MessageLog record: a 21-byte platform event (§10.6, TimeStamp little-endian).
type EventRecord struct {
	Time            time.Time
	DeviceAddress   uint8
	EventSensorType uint8
	EventType       uint8
	EventOffset     uint8
	EventSourceType uint8
	EventSeverity   uint8
	SensorNumber    uint8
	Entity          uint8
	EntityInstance  uint8
	EventData       [8]uint8
}

// eventRecordLen is the size of one binary event record.
const eventRecordLen = 21

// DecodeEventRecord decodes one binary event record; anything but 21 bytes is an error.
func DecodeEventRecord(b []byte) (EventRecord, error) {
	if len(b) != eventRecordLen {
		return EventRecord{}, fmt.Errorf("event record: %d bytes, want %d", len(b), eventRecordLen)
	}
	r := EventRecord{
		Time:          time.Unix(int64(binary.LittleEndian.Uint32(b)), 0).UTC(),
		DeviceAddress: b[4], EventSensorType: b[5], EventType: b[6], EventOffset: b[7], EventSourceType: b[8],
		EventSeverity: b[9], SensorNumber: b[10], Entity: b[11], EntityInstance: b[12],
	}
	copy(r.EventData[:], b[13:])
	return r, nil
}

// Event log reads: MaxReadRecords per GetRecords (what MPS and the console ask for, §10.1) and a bound on the calls,
// which covers AMT's 390-record log several times over.
const (
	eventPage     = 390
	maxEventReads = 8
)

// EventLog reads the whole event log in AMT's order: PositionToFirstRecord, then GetRecords from the identifier it
// gives, continuing with each answer's IterationIdentifier until NoMoreRecords (§10.1).
func (c *Client) EventLog(ctx context.Context) ([]EventRecord, error) {
	var pos struct{ IterationIdentifier string }
	if err := c.invoke(ctx, uriMessageLog, "PositionToFirstRecord", &pos); err != nil {
		return nil, err
	}
	id := strings.TrimSpace(pos.IterationIdentifier)
	var all []EventRecord
	for range maxEventReads {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("AMT_MessageLog: IterationIdentifier %q is not a number", id)
		}
		var out struct {
			IterationIdentifier string
			NoMoreRecords       bool
			RecordArray         []string
		}
		if err := c.invoke(ctx, uriMessageLog, "GetRecords", &out, wsman.Int("IterationIdentifier", n),
			wsman.Int("MaxReadRecords", eventPage)); err != nil {
			return nil, err
		}
		for i, enc := range out.RecordArray {
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
			if err != nil {
				return nil, fmt.Errorf("event record %d: %w", len(all)+i, err)
			}
			rec, err := DecodeEventRecord(raw)
			if err != nil {
				return nil, fmt.Errorf("event record %d: %w", len(all)+i, err)
			}
			all = append(all, rec)
		}
		if out.NoMoreRecords || len(out.RecordArray) == 0 {
			return all, nil
		}
		id = strings.TrimSpace(out.IterationIdentifier)
	}
	return nil, fmt.Errorf("AMT_MessageLog: no end of the log after %d GetRecords calls", maxEventReads)
}
