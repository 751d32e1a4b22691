package amtsim

import (
	"encoding/binary"
	"math"
	"net"
	"strings"
)

// auditCapacity bounds the log; the oldest record is dropped when it is full.
const auditCapacity = 128

// Audit MCLocationType follows the NetAddress in every protocol-cira-wsman §13 record:
// 0 with an IPv4 address (127.0.0.1, 1.2.3.4), 1 with an IPv6 address, 2 with none (the
// Local initiator) [inference from those vectors; the docs do not name the values].
const (
	locationIPv4 = 0
	locationIPv6 = 1
	locationNone = 2
)

// auditLog holds encoded records oldest first; nil until the first record.
type auditLog struct {
	records [][]byte
}

// auditLocked appends a record (protocol-cira-wsman §10.6 layout, big-endian):
// AuditAppID u16, EventID u16, InitiatorType u8 (0 = HTTP digest + u8 len + user,
// 2 = local), TimeStamp u32, MCLocationType u8, NetAddress u8 len + ASCII,
// ExtendedData u8 len + bytes.
func (d *Device) auditLocked(who initiator, app, event uint16, ext []byte) {
	rec := make([]byte, 0, 32+len(who.user)+len(who.addr)+len(ext))
	rec = binary.BigEndian.AppendUint16(rec, app)
	rec = binary.BigEndian.AppendUint16(rec, event)
	if who.user != "" {
		rec = appendU8Field(append(rec, 0), who.user)
	} else {
		rec = append(rec, 2)
	}
	rec = binary.BigEndian.AppendUint32(rec, uint32(max(0, min(d.cfg.Clock().Unix(), math.MaxUint32))))
	rec = append(rec, locationOf(who.addr))
	rec = appendU8Field(rec, who.addr)
	rec = appendU8Field(rec, ext)
	if len(d.audit.records) == auditCapacity {
		d.audit.records = append(d.audit.records[:0], d.audit.records[1:]...)
	}
	d.audit.records = append(d.audit.records, rec)
	d.changed()
}

// appendU8Field appends a u8 length and the field, cut to the 255 bytes the
// length byte can express.
func appendU8Field[T string | []byte](rec []byte, v T) []byte {
	n := min(len(v), math.MaxUint8)
	return append(append(rec, byte(n)), v[:n]...)
}

func locationOf(addr string) byte {
	switch {
	case addr == "":
		return locationNone
	case strings.Contains(addr, ":"):
		return locationIPv6
	}
	return locationIPv4
}

// readRecords is AMT_AuditLog.ReadRecords: up to 10 records from the 1-based
// StartIndex, oldest first; 35 = invalid index (protocol-cira-wsman §10.1).
func (d *Device) readRecords(start int) (total int, recs [][]byte, rv int) {
	total = len(d.audit.records)
	if start < 1 || (total > 0 && start > total) {
		return total, nil, 35
	}
	if total == 0 {
		return 0, nil, ptSuccess
	}
	end := min(start-1+10, total)
	return total, d.audit.records[start-1 : end], ptSuccess
}

// AuditRecords returns copies of the encoded audit records, oldest first.
func (d *Device) AuditRecords() [][]byte {
	d.lock()
	defer d.unlock()
	out := make([][]byte, len(d.audit.records))
	for i, r := range d.audit.records {
		out[i] = append([]byte(nil), r...)
	}
	return out
}

// addrText is the NetAddress text of a peer (IPv4 dotted, IPv6 in AMT's full form).
func addrText(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || tcp.IP == nil {
		return ""
	}
	if v4 := tcp.IP.To4(); v4 != nil {
		return v4.String()
	}
	ip := tcp.IP.To16()
	b := make([]byte, 0, 39)
	const hexdig = "0123456789abcdef"
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			b = append(b, ':')
		}
		for _, c := range ip[i : i+2] {
			b = append(b, hexdig[c>>4], hexdig[c&15])
		}
	}
	return string(b)
}
