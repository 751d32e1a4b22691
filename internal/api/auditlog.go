package api

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/dmrm/dm-manager/dmtclient/amt"
)

// auditPageSize is how many records one AMT_AuditLog.ReadRecords returns at most.
const auditPageSize = 10

type auditLogJSON struct {
	TotalCnt int               `json:"totalCnt"`
	Records  []auditRecordJSON `json:"records"`
}

// auditRecordJSON is MPS's audit record (protocol-cira-wsman §10.6, §11.2).
type auditRecordJSON struct {
	AuditAppID     int     `json:"AuditAppID"`
	EventID        int     `json:"EventID"`
	InitiatorType  int     `json:"InitiatorType"`
	AuditApp       string  `json:"AuditApp"`
	Event          string  `json:"Event"`
	Initiator      string  `json:"Initiator"`
	Time           string  `json:"Time"`
	MCLocationType int     `json:"MCLocationType"`
	NetAddress     string  `json:"NetAddress"`
	Ex             string  `json:"Ex"`
	ExStr          *string `json:"ExStr"`
}

// readAuditLog returns one page of the audit log newest first, as MPS does. AMT numbers records 1..total oldest
// first; startIndex s skips the s-1 newest, so s=1 is the newest page, s=11 the one before it. The first read
// learns the total (and is the answer when the log fits one page); a second read fetches the wanted window.
// (MPS computes the window as total-s-returned, which drops the newest record or two; this does not.)
func (s *server) readAuditLog(ctx context.Context, tenant, guid string, start int) (auditLogJSON, error) {
	first, err := s.AMT.ReadAuditLog(ctx, tenant, guid, 1)
	if err != nil {
		return auditLogJSON{}, err
	}
	total := first.TotalRecordCount
	out := auditLogJSON{TotalCnt: total, Records: []auditRecordJSON{}}
	end := total - (start - 1) // newest record to return
	if end < 1 {
		return out, nil
	}
	from := max(1, end-auditPageSize+1)
	recs := first.Records
	if end > len(first.Records) {
		page, err := s.AMT.ReadAuditLog(ctx, tenant, guid, from)
		if err != nil {
			return auditLogJSON{}, err
		}
		recs = page.Records
	} else {
		recs = recs[from-1:]
	}
	recs = recs[:min(len(recs), end-from+1)]
	for _, r := range slices.Backward(recs) {
		out.Records = append(out.Records, renderAuditRecord(r))
	}
	return out, nil
}

// Event names known from protocol-cira-wsman §13; others are "#<EventID>", MPS's own fallback.
var auditEvents = map[int]string{1619: "Unprovisioning Started", 1810: "KVM Enabled"}

// unprovisionSources names the first extended-data byte of event 1619 (protocol-cira-wsman §13).
var unprovisionSources = []string{"BIOS", "MEBx", "Local MEI", "Local WSMAN", "Remote WSMAN"}

func renderAuditRecord(r amt.AuditRecord) auditRecordJSON {
	out := auditRecordJSON{
		AuditAppID: int(r.AppID), EventID: int(r.EventID), InitiatorType: int(r.InitiatorType),
		AuditApp: r.AppName(), Event: auditEvents[r.EventKey()],
		Time:           r.Time.UTC().Format("2006-01-02T15:04:05.000Z"),
		MCLocationType: int(r.MCLocationType),
		NetAddress:     strings.Replace(r.NetAddress, "0000:0000:0000:0000:0000:0000:0000:0001", "::1", 1),
		Ex:             latin1(r.ExtendedData),
	}
	if out.Event == "" {
		out.Event = "#" + strconv.Itoa(int(r.EventID))
	}
	switch r.InitiatorType {
	case amt.InitiatorHTTPDigest:
		out.Initiator = r.Username
	case amt.InitiatorKerberos:
		out.Initiator = sidString(r.KerberosSID)
	case amt.InitiatorLocal:
		out.Initiator = "Local"
	case amt.InitiatorKVM:
		out.Initiator = "KVM Default Port"
	}
	if r.EventKey() == 1619 && len(r.ExtendedData) > 0 && int(r.ExtendedData[0]) < len(unprovisionSources) {
		out.ExStr = &unprovisionSources[r.ExtendedData[0]]
	}
	return out
}

// latin1 maps each byte to the code point of the same value, as MPS's binary strings do.
func latin1(b []byte) string {
	rs := make([]rune, len(b))
	for i, c := range b {
		rs[i] = rune(c)
	}
	return string(rs)
}

// sidString formats a binary Windows SID as S-<revision>-<authority>-<sub>… (authority big-endian, 6 bytes;
// sub-authorities little-endian, 4 bytes each).
func sidString(b []byte) string {
	if len(b) < 8 {
		return ""
	}
	var auth uint64
	for _, c := range b[2:8] {
		auth = auth<<8 | uint64(c)
	}
	s := fmt.Sprintf("S-%d-%d", b[0], auth)
	for i := 0; i < int(b[1]) && 8+4*i+4 <= len(b); i++ {
		s += "-" + strconv.FormatUint(uint64(binary.LittleEndian.Uint32(b[8+4*i:])), 10)
	}
	return s
}
