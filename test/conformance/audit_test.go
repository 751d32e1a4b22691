package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/dmtclient/amt"
	"github.com/dmrm/dm-manager/internal/domaincert/certtest"
	"github.com/dmrm/dm-manager/test/amtsim"
)

// readAuditLog reads every record with ReadRecords pages of at most 10 (§10.1), oldest first.
func readAuditLog(ctx context.Context, t *testing.T, c *amt.Client) []amt.AuditRecord {
	t.Helper()
	var all []amt.AuditRecord
	for start := 1; ; {
		page, err := c.ReadAuditLog(ctx, start)
		require.NoError(t, err)
		require.LessOrEqual(t, page.RecordsReturned, 10)
		require.Len(t, page.Records, page.RecordsReturned)
		all = append(all, page.Records...)
		start += page.RecordsReturned
		if start > page.TotalRecordCount || page.RecordsReturned == 0 {
			require.Len(t, all, page.TotalRecordCount)
			return all
		}
	}
}

// TestAuditLog performs audited actions and reads them back decoded (§10.6): provisioning by the local account,
// power actions, trusted-root add/remove and an ACL change by admin over the network, and unprovisioning.
func TestAuditLog(t *testing.T) {
	ctx := testContext(t)
	r := newRig(t)
	r.activateCCM(ctx)
	c := r.admin(false)

	from := r.hist.mark()
	require.NoError(t, c.RequestPowerStateChange(ctx, amt.MasterBusReset))
	r.hist.await(ctx, t, from, osDown, osUp)
	require.NoError(t, c.RequestPowerStateChange(ctx, amt.DiagnosticInterrupt))
	root := certtest.Issue(t, certtest.CA("audit root"), &certtest.Key(t, 3).PublicKey, nil, certtest.Key(t, 3))
	id, err := c.AddTrustedRootCertificate(ctx, root.Raw)
	require.NoError(t, err)
	require.NoError(t, c.DeletePublicKeyCertificate(ctx, id))
	require.NoError(t, c.SetAdminAclEntryEx(ctx, "admin", amt.AdminDigestPassword(r.dev.DigestRealm(), adminPassword)))
	from = r.hist.mark()
	require.NoError(t, c.Unprovision(ctx))
	r.hist.await(ctx, t, from, func(s amtsim.State) bool { return s.Mode == amtsim.PreProvisioning })

	// The log survives unprovisioning; activate again to read it, which adds a second 1600/1601 pair.
	r.activateCCM(ctx)
	recs := readAuditLog(ctx, t, r.admin(false))

	lsa, _ := r.dev.LSA()
	type entry struct {
		key  int
		user string
		ext  []byte
	}
	want := []entry{
		{1600, lsa, nil}, {1601, lsa, nil}, // Provisioning Started / Completed
		{1703, "admin", nil}, {1709, "admin", nil}, // reset, NMI
		{1610, "admin", nil}, {1611, "admin", nil}, // trusted root added / removed
		{1603, "admin", nil},       // ACL entry modified
		{1619, "admin", []byte{4}}, // Unprovisioning Started, "Remote WSMAN"
		{1600, lsa, nil}, {1601, lsa, nil},
	}
	require.Len(t, recs, len(want))
	for i, w := range want {
		rec := recs[i]
		require.Equal(t, w.key, rec.EventKey(), "record %d", i)
		require.Equal(t, uint8(amt.InitiatorHTTPDigest), rec.InitiatorType, "record %d", i)
		require.Equal(t, w.user, rec.Username, "record %d", i)
		require.Equal(t, w.ext, rec.ExtendedData, "record %d", i)
		require.Equal(t, "127.0.0.1", rec.NetAddress, "record %d", i)
		require.Equal(t, uint8(0), rec.MCLocationType, "record %d: IPv4 NetAddress (§13 vectors)", i)
		require.WithinDuration(t, r.clock.Now(), rec.Time, time.Minute, "record %d", i)
	}
	require.Equal(t, "Security Admin", recs[0].AppName())
	require.Equal(t, "RCO", recs[2].AppName())

	// Byte-for-byte: what the client decoded is what the simulator encoded.
	raw := r.dev.AuditRecords()
	require.Len(t, raw, len(recs))
	for i, b := range raw {
		dec, err := amt.DecodeAuditRecord(b)
		require.NoError(t, err)
		require.Equal(t, dec, recs[i])
	}

	// StartIndex past the end: ReturnValue 35 (§10.1), labelled from PT_STATUS.
	_, err = r.admin(false).ReadAuditLog(ctx, len(recs)+1)
	requireReturnValue(t, err, "AMT_AuditLog.ReadRecords", 35, "INVALID_INDEX")
}
