package amt

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

// Audit log initiator types (§10.6).
const (
	InitiatorHTTPDigest = 0
	InitiatorKerberos   = 1
	InitiatorLocal      = 2
	InitiatorKVM        = 3
)

// AuditRecord is one decoded AMT audit log record (§10.6, big-endian).
type AuditRecord struct {
	AppID          uint16
	EventID        uint16
	InitiatorType  uint8
	Username       string // digest initiator
	KerberosSID    []byte // Kerberos initiator
	Time           time.Time
	MCLocationType uint8
	NetAddress     string
	ExtendedData   []byte
}

// EventKey is AuditAppID × 100 + EventID, the key of AMT's event name table (e.g. 1619 Unprovisioning Started).
func (r AuditRecord) EventKey() int { return int(r.AppID)*100 + int(r.EventID) }

var auditAppNames = map[uint16]string{
	16: "Security Admin", 17: "RCO", 18: "Redirection Manager", 19: "Firmware Update Manager",
	20: "Security Audit Log", 21: "Network Time", 22: "Network Administration", 23: "Storage Administration",
	24: "Event Manager", 25: "Circuit Breaker Manager", 26: "Agent Presence Manager", 27: "Wireless Configuration",
	28: "EAC", 29: "KVM", 30: "User Opt-In Events", 32: "Screen Blanking", 33: "Watchdog Events",
}

// AppName names the auditing application ("" when unknown).
func (r AuditRecord) AppName() string { return auditAppNames[r.AppID] }

// DecodeAuditRecord decodes one binary audit record.
func DecodeAuditRecord(b []byte) (AuditRecord, error) {
	d := recordReader{b: b}
	var r AuditRecord
	r.AppID = d.u16()
	r.EventID = d.u16()
	r.InitiatorType = d.u8()
	switch r.InitiatorType {
	case InitiatorHTTPDigest:
		r.Username = string(d.lenPrefixed())
	case InitiatorKerberos:
		d.skip(4)
		r.KerberosSID = d.lenPrefixed()
	case InitiatorLocal, InitiatorKVM:
	default:
		return AuditRecord{}, fmt.Errorf("audit record: unknown initiator type %d", r.InitiatorType)
	}
	r.Time = time.Unix(int64(d.u32()), 0).UTC()
	r.MCLocationType = d.u8()
	r.NetAddress = string(d.lenPrefixed())
	r.ExtendedData = d.lenPrefixed()
	if d.short {
		return AuditRecord{}, fmt.Errorf("audit record: truncated (%d bytes)", len(b))
	}
	return r, nil
}

// recordReader reads big-endian fields and remembers running out of bytes instead of failing each call.
type recordReader struct {
	b     []byte
	short bool
}

func (d *recordReader) take(n int) []byte {
	if d.short || len(d.b) < n {
		d.short = true
		return make([]byte, n)
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *recordReader) skip(n int)  { d.take(n) }
func (d *recordReader) u8() uint8   { return d.take(1)[0] }
func (d *recordReader) u16() uint16 { return binary.BigEndian.Uint16(d.take(2)) }
func (d *recordReader) u32() uint32 { return binary.BigEndian.Uint32(d.take(4)) }
func (d *recordReader) lenPrefixed() []byte {
	n := int(d.u8())
	if n == 0 {
		return nil
	}
	return append([]byte(nil), d.take(n)...)
}

// AuditLogPage is one ReadRecords answer: at most 10 records, oldest first.
type AuditLogPage struct {
	TotalRecordCount int
	RecordsReturned  int
	Records          []AuditRecord
}

// ReadAuditLog reads records from startIndex (1-based) with AMT_AuditLog.ReadRecords (§10.1).
func (c *Client) ReadAuditLog(ctx context.Context, startIndex int) (AuditLogPage, error) {
	var out struct {
		TotalRecordCount int
		RecordsReturned  int
		EventRecords     []string
	}
	if err := c.invoke(ctx, uriAuditLog, "ReadRecords", &out, wsman.Int("StartIndex", int64(startIndex))); err != nil {
		return AuditLogPage{}, err
	}
	page := AuditLogPage{TotalRecordCount: out.TotalRecordCount, RecordsReturned: out.RecordsReturned}
	for i, enc := range out.EventRecords {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
		if err != nil {
			return AuditLogPage{}, fmt.Errorf("audit record %d: %w", i, err)
		}
		rec, err := DecodeAuditRecord(raw)
		if err != nil {
			return AuditLogPage{}, fmt.Errorf("audit record %d: %w", i, err)
		}
		page.Records = append(page.Records, rec)
	}
	return page, nil
}
