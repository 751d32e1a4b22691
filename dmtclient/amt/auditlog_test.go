package amt

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/wsman"
)

// ipv6Loopback is the §10.6 text form of ::1 in audit records.
const ipv6Loopback = "0000:0000:0000:0000:0000:0000:0000:0001"

// unprovisioningStarted rebuilds the §13 record whose base64 the doc elides in the middle, from its decoded
// fields; the doc's leading base64 is checked below.
func unprovisioningStarted() string {
	raw := []byte{0x00, 0x10, 0x00, 0x13, 0x00, 0x05, 'a', 'd', 'm', 'i', 'n', 0x61, 0xa5, 0xfb, 0xcc, 0x01, byte(len(ipv6Loopback))}
	raw = append(raw, ipv6Loopback...)
	raw = append(raw, 0x01, 0x04)
	return base64.StdEncoding.EncodeToString(raw)
}

// protocol-cira-wsman §13 audit vectors.
func TestDecodeAuditRecordVectors(t *testing.T) {
	enc := unprovisioningStarted()
	require.True(t, strings.HasPrefix(enc, "ABAAEwAFYWRtaW5hpfvMAScwMDAw"), enc)
	tests := []struct {
		b64  string
		want AuditRecord
		key  int
		app  string
	}{
		{"ABIACgAFYWRtaW5egj0nAAkxMjcuMC4wLjEA", AuditRecord{AppID: 18, EventID: 10, InitiatorType: InitiatorHTTPDigest,
			Username: "admin", Time: time.Date(2020, 3, 30, 18, 40, 39, 0, time.UTC), NetAddress: "127.0.0.1"}, 1810, "Redirection Manager"},
		{"AB4AAQAFYWRtaW5hpfrtAAcxLjIuMy40AQA=", AuditRecord{AppID: 30, EventID: 1, Username: "admin",
			Time: time.Unix(1638267629, 0).UTC(), NetAddress: "1.2.3.4", ExtendedData: []byte{0}}, 3001, "User Opt-In Events"},
		{enc, AuditRecord{AppID: 16, EventID: 19, Username: "admin", Time: time.Unix(1638267852, 0).UTC(),
			MCLocationType: 1, NetAddress: ipv6Loopback, ExtendedData: []byte{4}}, 1619, "Security Admin"},
		{"ABAAAAJegj0UAgAA", AuditRecord{AppID: 16, EventID: 0, InitiatorType: InitiatorLocal,
			Time: time.Unix(1585593620, 0).UTC(), MCLocationType: 2}, 1600, "Security Admin"},
	}
	for _, tt := range tests {
		raw, err := base64.StdEncoding.DecodeString(tt.b64)
		require.NoError(t, err)
		got, err := DecodeAuditRecord(raw)
		require.NoError(t, err, tt.b64)
		require.Equal(t, tt.want, got, tt.b64)
		require.Equal(t, tt.key, got.EventKey())
		require.Equal(t, tt.app, got.AppName())
	}
}

func TestDecodeAuditRecordKerberosAndErrors(t *testing.T) {
	raw := []byte{0, 17, 0, 3, InitiatorKerberos, 9, 9, 9, 9, 2, 0xAB, 0xCD, 0, 0, 0, 1, 0, 0, 0}
	got, err := DecodeAuditRecord(raw)
	require.NoError(t, err)
	require.Equal(t, []byte{0xAB, 0xCD}, got.KerberosSID)
	require.Equal(t, "RCO", got.AppName())

	for _, bad := range [][]byte{nil, {0, 16, 0, 0, 9}, {0, 16, 0, 0, 0, 5, 'a'}, raw[:len(raw)-1]} {
		_, err := DecodeAuditRecord(bad)
		require.Error(t, err, "%x", bad)
	}
}

func TestReadAuditLog(t *testing.T) {
	uri := wsman.AMT("AMT_AuditLog")
	c, d := newDevice(t,
		output(uri, "ReadRecords", `<g:EventRecords>ABIACgAFYWRtaW5egj0nAAkxMjcuMC4wLjEA</g:EventRecords><g:EventRecords>ABAAAAJegj0UAgAA</g:EventRecords><g:RecordsReturned>2</g:RecordsReturned><g:TotalRecordCount>12</g:TotalRecordCount>`, 0),
		output(uri, "ReadRecords", "", 35))
	page, err := c.ReadAuditLog(t.Context(), 1)
	require.NoError(t, err)
	// §10.1: exact ReadRecords body.
	d.requireRequest(0, uri+"/ReadRecords", uri, "",
		`<h:ReadRecords_INPUT xmlns:h="http://intel.com/wbem/wscim/1/amt-schema/1/AMT_AuditLog"><h:StartIndex>1</h:StartIndex></h:ReadRecords_INPUT>`)
	require.Equal(t, 12, page.TotalRecordCount)
	require.Equal(t, 2, page.RecordsReturned)
	require.Len(t, page.Records, 2)
	require.Equal(t, 1810, page.Records[0].EventKey())
	require.Equal(t, 1600, page.Records[1].EventKey())

	_, err = c.ReadAuditLog(t.Context(), 99)
	var rv *wsman.ReturnValueError
	require.ErrorAs(t, err, &rv)
	require.Equal(t, "INVALID_INDEX", rv.Name)
}

func FuzzDecodeAuditRecord(f *testing.F) {
	for _, s := range []string{"ABIACgAFYWRtaW5egj0nAAkxMjcuMC4wLjEA", "AB4AAQAFYWRtaW5hpfrtAAcxLjIuMy40AQA=", "ABAAAAJegj0UAgAA", unprovisioningStarted()} {
		raw, _ := base64.StdEncoding.DecodeString(s)
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := DecodeAuditRecord(raw)
		if err == nil && len(r.Username)+len(r.KerberosSID)+len(r.NetAddress)+len(r.ExtendedData) > len(raw) {
			t.Fatalf("decoded more bytes than the record holds")
		}
	})
}
