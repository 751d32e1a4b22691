package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/dmrm/dm-manager/dmtclient/amt"
)

// eventLogRoutes serve AMT's platform event log as MPS does (protocol-cira-wsman §11.2 GET /amt/log/event).
func (s *server) eventLogRoutes() []route {
	return []route{{http.MethodGet, "/amt/log/event/{guid}", permRead, s.eventLog}}
}

func (s *server) eventLog(w http.ResponseWriter, r *http.Request, c *call) {
	s.live(w, r, c, "Event Log", func(ctx context.Context, guid string) (any, error) {
		recs, err := s.AMT.EventLog(ctx, c.tenant, guid)
		out := make([]eventRecordJSON, 0, len(recs))
		for _, rec := range recs {
			out = append(out, renderEventRecord(rec))
		}
		return out, err
	})
}

// eventRecordJSON is MPS's event log entry: the record's fields (§10.6), the time, the entity's name and a
// description of the event. Time is UTC (MPS adds its server's zone offset, a quirk not copied).
type eventRecordJSON struct {
	DeviceAddress   int     `json:"DeviceAddress"`
	EventSensorType int     `json:"EventSensorType"`
	EventType       int     `json:"EventType"`
	EventOffset     int     `json:"EventOffset"`
	EventSourceType int     `json:"EventSourceType"`
	EventSeverity   int     `json:"EventSeverity"`
	SensorNumber    int     `json:"SensorNumber"`
	Entity          int     `json:"Entity"`
	EntityInstance  int     `json:"EntityInstance"`
	EventData       []int   `json:"EventData"`
	TimeStamp       string  `json:"TimeStamp"`
	EntityStr       string  `json:"EntityStr"`
	Desc            *string `json:"Desc"`
}

func renderEventRecord(r amt.EventRecord) eventRecordJSON {
	data := make([]int, len(r.EventData))
	for i, b := range r.EventData {
		data[i] = int(b)
	}
	out := eventRecordJSON{
		DeviceAddress: int(r.DeviceAddress), EventSensorType: int(r.EventSensorType), EventType: int(r.EventType),
		EventOffset: int(r.EventOffset), EventSourceType: int(r.EventSourceType), EventSeverity: int(r.EventSeverity),
		SensorNumber: int(r.SensorNumber), Entity: int(r.Entity), EntityInstance: int(r.EntityInstance),
		EventData: data, TimeStamp: r.Time.UTC().Format("2006-01-02T15:04:05.000Z"), EntityStr: "Unknown",
	}
	if int(r.Entity) < len(entityNames) {
		out.EntityStr = entityNames[r.Entity]
	}
	if d, ok := eventDescription(r); ok {
		out.Desc = &d
	}
	return out
}

// entityNames are the IPMI entity IDs 0..52 under the names MPS shows (35 and 38 are AMT's ME).
var entityNames = []string{
	"Unspecified", "Other", "Unknown", "Processor", "Disk", "Peripheral", "System management module", "System board",
	"Memory module", "Processor module", "Power supply", "Add in card", "Front panel board", "Back panel board",
	"Power system board", "Drive backplane", "System internal expansion board", "Other system board",
	"Processor board", "Power unit", "Power module", "Power management board", "Chassis back panel board",
	"System chassis", "Sub chassis", "Other chassis board", "Disk drive bay", "Peripheral bay", "Device bay",
	"Fan cooling", "Cooling unit", "Cable interconnect", "Memory device", "System management software", "BIOS",
	"Intel(r) ME", "System bus", "Group", "Intel(r) ME", "External environment", "Battery", "Processing blade",
	"Connectivity switch", "Processor/memory module", "I/O module", "Processor I/O module",
	"Management controller firmware", "IPMI channel", "PCI bus", "PCI express bus", "SCSI bus", "SATA/SAS bus",
	"Processor front side bus",
}

// firmwareErrors and firmwareProgress name EventData[1] of System Firmware Progress events (sensor type 15) at
// offset 0 (error) and otherwise (progress): the IPMI codes, in MPS's wording.
var (
	firmwareErrors = []string{
		"Unspecified.", "No system memory is physically installed in the system.",
		"No usable system memory, all installed memory has experienced an unrecoverable failure.",
		"Unrecoverable hard-disk/ATAPI/IDE device failure.", "Unrecoverable system-board failure.",
		"Unrecoverable diskette subsystem failure.", "Unrecoverable hard-disk controller failure.",
		"Unrecoverable PS/2 or USB keyboard failure.", "Removable boot media not found.",
		"Unrecoverable video controller failure.", "No video device detected.",
		"Firmware (BIOS) ROM corruption detected.",
		"CPU voltage mismatch (processors that share same supply have mismatched voltage requirements)",
		"CPU speed matching failure",
	}
	firmwareProgress = []string{
		"Unspecified.", "Memory initialization.", "Starting hard-disk initialization and test",
		"Secondary processor(s) initialization", "User authentication", "User-initiated system setup",
		"USB resource configuration", "PCI resource configuration", "Option ROM initialization", "Video initialization",
		"Cache initialization", "SM Bus initialization", "Keyboard controller initialization",
		"Embedded controller/management controller initialization", "Docking station attachment",
		"Enabling docking station", "Docking station ejection", "Disabling docking station",
		"Calling operating system wake-up vector", "Starting operating system boot process",
		"Baseboard or motherboard initialization", "reserved", "Floppy initialization", "Keyboard test",
		"Pointing device test", "Primary processor initialization",
	}
	watchdogStates = map[uint8]string{1: "Not Started", 2: "Stopped", 4: "Running", 8: "Expired", 16: "Suspended"}
)

// eventDescription is MPS's description of an event by sensor type; ok is false where MPS has none (null).
func eventDescription(r amt.EventRecord) (string, bool) {
	d := r.EventData
	pick := func(names []string, i uint8) (string, bool) {
		if int(i) < len(names) {
			return names[i], true
		}
		return "", false
	}
	switch r.EventSensorType {
	case 6:
		return fmt.Sprintf("Authentication failed %d times. The system may be under attack.", int(d[1])+int(d[2])<<8), true
	case 15:
		switch {
		case d[0] == 235:
			return "Invalid Data", true
		case r.EventOffset == 0:
			return pick(firmwareErrors, d[1])
		}
		return pick(firmwareProgress, d[1])
	case 18:
		if d[0] != 170 {
			return "", false
		}
		return fmt.Sprintf("Agent watchdog %s-%s-... changed to %s", hexBytes(d[4], d[3], d[2], d[1]),
			hexBytes(d[6], d[5]), watchdogStates[d[7]]), true
	case 30:
		return "No bootable media", true
	case 32:
		return "Operating system lockup or power interrupt", true
	case 35:
		return "System boot failure", true
	case 37:
		return "System firmware started (at least one CPU is properly executing).", true
	}
	return "Unknown Sensor Type #" + strconv.Itoa(int(r.EventSensorType)), true
}

func hexBytes(bs ...uint8) string {
	var b strings.Builder
	for _, c := range bs {
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}
