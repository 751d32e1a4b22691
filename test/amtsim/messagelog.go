package amtsim

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"
	"time"

	"github.com/dmrm/dm-manager/test/amtsim/soap"
)

// The event log (AMT_MessageLog, protocol-cira-wsman §10.1, record layout §10.6). It
// holds 21-byte platform event records, oldest first, up to messageLogCapacity; a full
// log drops its oldest record (OverwritePolicy 2, "wraps when full").
const messageLogCapacity = 390

// Platform event record fields used by the simulated firmware (IPMI platform event
// values, the ones of the §13 vectors).
const (
	evAddressAny      = 255 // DeviceAddress / SensorNumber "unspecified"
	evSensorFirmware  = 15  // System Firmware Progress
	evTypeSensor      = 111 // sensor-specific event type
	evOffsetProgress  = 2   // offset 2: progress, EventData[1] names the step
	evSourceBIOS      = 104 // EventSourceType of BIOS/platform events
	evSeverityMonitor = 1
	evEntityBIOS      = 34
)

// bootProgress is what a BIOS reports while it boots, in order (IPMI System Firmware
// Progress codes: memory, primary processor, PCI, video, USB, OS boot).
var bootProgress = []byte{1, 25, 7, 9, 6, 19}

type messageLog struct {
	records [][]byte
}

// eventRecord encodes one record: TimeStamp u32 little-endian, then DeviceAddress,
// EventSensorType, EventType, EventOffset, EventSourceType, EventSeverity, SensorNumber,
// Entity, EntityInstance (one byte each) and EventData[8].
func eventRecord(ts time.Time, sensor, offset, severity, entity byte, data [8]byte) []byte {
	rec := binary.LittleEndian.AppendUint32(make([]byte, 0, 21), uint32(max(0, min(ts.Unix(), math.MaxUint32-1))))
	rec = append(rec, evAddressAny, sensor, evTypeSensor, offset, evSourceBIOS, severity, evAddressAny, entity, 0)
	return append(rec, data[:]...)
}

// logBootLocked records the BIOS progress of one boot starting at start, one record a
// second. New logs the boot that brought the device up; power-on and reset log theirs.
func (d *Device) logBootLocked(start time.Time) {
	for i, code := range bootProgress {
		d.logEventLocked(eventRecord(start.Add(time.Duration(i)*time.Second), evSensorFirmware, evOffsetProgress,
			evSeverityMonitor, evEntityBIOS, [8]byte{64, code}))
	}
}

func (d *Device) logEventLocked(rec []byte) {
	l := &d.events
	if len(l.records) == messageLogCapacity {
		l.records = append(l.records[:0], l.records[1:]...)
	}
	l.records = append(l.records, rec)
	d.changed()
}

// EventRecords returns copies of the encoded event log records, oldest first.
func (d *Device) EventRecords() [][]byte {
	d.lock()
	defer d.unlock()
	recs := d.events.records
	out := make([][]byte, len(recs))
	for i, r := range recs {
		out[i] = append([]byte(nil), r...)
	}
	return out
}

// getRecords is AMT_MessageLog.GetRecords: up to max records from the 1-based
// position id (PositionToFirstRecord gives 1), oldest first. The returned identifier is
// the position after the last record returned, so a caller continues with it until
// NoMoreRecords; a position outside 1..n+1 is 35 (invalid index), max < 1 is 36.
func (d *Device) getRecords(id, limit int) (recs [][]byte, next int, done bool, rv int) {
	all := d.events.records
	switch {
	case id < 1 || id > len(all)+1:
		return nil, id, true, 35
	case limit < 1:
		return nil, id, true, ptInvalidParameter
	}
	end := min(len(all), id-1+min(limit, messageLogCapacity))
	return all[id-1 : end], end + 1, end == len(all), ptSuccess
}

func messageLogClass() *class {
	ml := amtClass("AMT_MessageLog")
	ml.list = func(d *Device) []*soap.Instance {
		n := len(d.events.records)
		const name = "Intel(r) AMT:MessageLog 1"
		return []*soap.Instance{{Class: "AMT_MessageLog", Props: []soap.Prop{
			soap.P("Capabilities", "5", "6", "8", "7"), soap.P("CharacterSet", "10"),
			soap.P("CreationClassName", "AMT_MessageLog"), soap.P("CurrentNumberOfRecords", strconv.Itoa(n)),
			soap.P("ElementName", name), soap.P("EnabledDefault", "2"), soap.P("EnabledState", "2"),
			soap.P("HealthState", "5"), soap.P("IsFrozen", "false"), soap.P("LastChange", "0"), soap.P("LogState", "4"),
			soap.P("MaxLogSize", "0"), soap.P("MaxNumberOfRecords", strconv.Itoa(messageLogCapacity)),
			soap.P("MaxRecordSize", "21"), soap.P("Name", name), soap.P("OperationalStatus", "2"),
			soap.P("OverwritePolicy", "2"), soap.P("PercentageNearFull", strconv.Itoa(n*100/messageLogCapacity)),
			soap.P("RequestedState", "12"), soap.P("SizeOfHeader", "0"), soap.P("SizeOfRecordHeader", "0"),
			soap.P("Status", "OK"),
		}}}
	}
	ml.methods = map[string]method{
		"PositionToFirstRecord": {run: func(*call, *params) ([]soap.Prop, int, func()) {
			return []soap.Prop{soap.P("IterationIdentifier", "1")}, ptSuccess, nil
		}},
		"GetRecords": {params: []string{"IterationIdentifier", "MaxReadRecords"},
			run: func(c *call, p *params) ([]soap.Prop, int, func()) {
				id, limit := p.int("IterationIdentifier"), p.int("MaxReadRecords")
				if p.failed() {
					return nil, 0, nil
				}
				recs, next, done, rv := c.d.getRecords(id, limit)
				outs := []soap.Prop{soap.P("IterationIdentifier", strconv.Itoa(next)),
					soap.P("NoMoreRecords", strconv.FormatBool(done))}
				if len(recs) > 0 {
					enc := make([]string, len(recs))
					for i, r := range recs {
						enc[i] = base64.StdEncoding.EncodeToString(r)
					}
					outs = append(outs, soap.P("RecordArray", enc...))
				}
				return outs, rv, nil
			}},
	}
	return ml
}
