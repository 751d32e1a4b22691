package amtsim

import (
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/test/amtsim/soap"
)

// auditRecord decodes the §10.6 layout.
type auditRecord struct {
	app, event uint16
	initiator  byte
	user       string
	ts         uint32
	location   byte
	net        string
	ext        []byte
}

func decodeAudit(t *testing.T, b []byte) auditRecord {
	var r auditRecord
	r.app, r.event, r.initiator = binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:]), b[4]
	b = b[5:]
	if r.initiator == 0 {
		n := int(b[0])
		r.user, b = string(b[1:1+n]), b[1+n:]
	}
	r.ts, r.location = binary.BigEndian.Uint32(b), b[4]
	b = b[5:]
	n := int(b[0])
	r.net, b = string(b[1:1+n]), b[1+n:]
	n = int(b[0])
	r.ext = b[1 : 1+n]
	require.Len(t, b, 1+n, "no trailing bytes")
	return r
}

func TestAuditDecodesDocVector(t *testing.T) {
	// protocol-cira-wsman §13: 1810 KVM Enabled by admin from 127.0.0.1.
	raw, err := base64.StdEncoding.DecodeString("ABIACgAFYWRtaW5egj0nAAkxMjcuMC4wLjEA")
	require.NoError(t, err)
	r := decodeAudit(t, raw)
	require.Equal(t, auditRecord{app: 18, event: 10, user: "admin", ts: 1585593639, net: "127.0.0.1", ext: []byte{}}, r)
}

func TestAuditLogReadRecords(t *testing.T) {
	d := newTestDevice(t)
	c := ccm(t, d)
	rv, _ := c.method(soap.CIMPrefix+"CIM_PowerManagementService", "RequestPowerStateChange", powerBody(actOff))
	require.Equal(t, 0, rv)
	const auditURI = soap.AMTPrefix + "AMT_AuditLog"
	rv, out := c.method(auditURI, "ReadRecords", `<h:StartIndex>1</h:StartIndex>`)
	require.Equal(t, 0, rv)
	require.Equal(t, "3", out.Child("TotalRecordCount").Value())
	require.Equal(t, "3", out.Child("RecordsReturned").Value())
	var got []auditRecord
	for _, n := range out.All("EventRecords") {
		b, err := base64.StdEncoding.DecodeString(n.Value())
		require.NoError(t, err)
		got = append(got, decodeAudit(t, b))
	}
	user, _ := d.LSA()
	require.Equal(t, []string{"1600", "1601", "1701"}, []string{
		strconv.Itoa(int(got[0].app)*100 + int(got[0].event)),
		strconv.Itoa(int(got[1].app)*100 + int(got[1].event)),
		strconv.Itoa(int(got[2].app)*100 + int(got[2].event)),
	})
	require.Equal(t, user, got[0].user)
	require.Len(t, d.AuditRecords(), 3)
	require.Equal(t, "admin", got[2].user)
	rv, _ = c.method(auditURI, "ReadRecords", `<h:StartIndex>0</h:StartIndex>`)
	require.Equal(t, 35, rv)
	rv, _ = c.method(auditURI, "ReadRecords", `<h:StartIndex>9</h:StartIndex>`)
	require.Equal(t, 35, rv)
}

func TestAuditLogBounded(t *testing.T) {
	d := newTestDevice(t)
	d.lock()
	for i := range auditCapacity + 5 {
		d.auditLocked(initiator{user: "admin"}, 17, uint16(i%10), nil)
	}
	total, recs, rv := d.readRecords(auditCapacity - 2)
	d.unlock()
	require.Equal(t, auditCapacity, total)
	require.Len(t, recs, 3)
	require.Equal(t, 0, rv)
}
