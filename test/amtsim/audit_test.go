package amtsim

import (
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"testing"
	"time"

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

// TestAuditEncodesDocVectors: records built from the §13 vectors' inputs encode to those exact bytes, MCLocationType
// included (0 beside an IPv4 NetAddress, 1 beside IPv6, 2 for the Local initiator without one).
func TestAuditEncodesDocVectors(t *testing.T) {
	const ipv6Loopback = "0000:0000:0000:0000:0000:0000:0000:0001"
	for _, tt := range []struct {
		name       string
		who        initiator
		ts         int64
		app, event uint16
		ext        []byte
		want       string
	}{
		{"1600 local", initiator{}, 1585593620, 16, 0, nil, "ABAAAAJegj0UAgAA"},
		{"1810 admin from IPv4", initiator{user: "admin", addr: "127.0.0.1"}, 1585593639, 18, 10, nil,
			"ABIACgAFYWRtaW5egj0nAAkxMjcuMC4wLjEA"},
		{"3001 admin from IPv4", initiator{user: "admin", addr: "1.2.3.4"}, 1638267629, 30, 1, []byte{0},
			"AB4AAQAFYWRtaW5hpfrtAAcxLjIuMy40AQA="},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDevice(t, func(c *Config) { c.Clock = func() time.Time { return time.Unix(tt.ts, 0) } })
			d.lock()
			d.auditLocked(tt.who, tt.app, tt.event, tt.ext)
			d.unlock()
			recs := d.AuditRecords()
			require.Equal(t, tt.want, base64.StdEncoding.EncodeToString(recs[len(recs)-1]))
		})
	}
	// 1619 from IPv6 loopback: the §13 vector is abbreviated, so check the decoded fields it lists.
	d := newTestDevice(t, func(c *Config) { c.Clock = func() time.Time { return time.Unix(1638267852, 0) } })
	d.lock()
	d.auditLocked(initiator{user: "admin", addr: ipv6Loopback}, 16, 19, []byte{4})
	d.unlock()
	recs := d.AuditRecords()
	require.Equal(t, auditRecord{app: 16, event: 19, user: "admin", ts: 1638267852, location: 1, net: ipv6Loopback,
		ext: []byte{4}}, decodeAudit(t, recs[len(recs)-1]))
}
