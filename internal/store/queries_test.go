package store

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	tenantA = "11111111-1111-1111-1111-111111111111"
	tenantB = "22222222-2222-2222-2222-222222222222"
	guid1   = "aaaaaaaa-0000-0000-0000-000000000001"
	guid2   = "aaaaaaaa-0000-0000-0000-000000000002"
)

func mustSub(t testing.TB) fs.FS {
	t.Helper()
	sub, err := fs.Sub(embedded, "migrations")
	require.NoError(t, err)
	return sub
}

func seedTenants(t *testing.T, s *Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		_, err := s.UpsertTenant(context.Background(), Tenant{ID: id})
		require.NoError(t, err)
	}
}

func TestTenants(t *testing.T) {
	s := openMigrated(t)
	ctx := context.Background()

	created, err := s.UpsertTenant(ctx, Tenant{ID: tenantA, CIRAServerAddress: "mps.example.org:4433",
		CIRARootCertDERB64: "MIIB", PasswordPolicy: "dynamic"})
	require.NoError(t, err)
	require.Equal(t, "dynamic", created.PasswordPolicy)
	require.False(t, created.CreatedAt.IsZero())

	updated, err := s.UpsertTenant(ctx, Tenant{ID: tenantA, CIRAServerAddress: "cira.example.org:4433"})
	require.NoError(t, err)
	require.Equal(t, "static", updated.PasswordPolicy, "empty policy means static")
	require.Equal(t, created.CreatedAt, updated.CreatedAt)
	require.False(t, updated.UpdatedAt.Before(created.UpdatedAt))

	got, err := s.GetTenant(ctx, tenantA)
	require.NoError(t, err)
	require.Equal(t, updated, got)

	seedTenants(t, s, tenantB)
	list, err := s.ListTenants(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, tenantA, list[0].ID)

	_, err = s.UpsertTenant(ctx, Tenant{ID: tenantA, PasswordPolicy: "sometimes"})
	require.ErrorIs(t, err, ErrInvalid)
	_, err = s.GetTenant(ctx, "not-a-uuid")
	require.ErrorIs(t, err, ErrInvalid)
	_, err = s.GetTenant(ctx, "33333333-3333-3333-3333-333333333333")
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorIs(t, s.DeleteTenant(ctx, "33333333-3333-3333-3333-333333333333"), ErrNotFound)
}

func TestDeleteTenantCascades(t *testing.T) {
	s := openMigrated(t)
	ctx := context.Background()
	seedTenants(t, s, tenantA, tenantB)
	for _, tenant := range []string{tenantA, tenantB} {
		_, err := s.UpsertProfile(ctx, Profile{TenantID: tenant, Name: tenant + "_ccm", Activation: ActivationCCM})
		require.NoError(t, err)
		_, err = s.InsertDomain(ctx, Domain{TenantID: tenant, ProfileName: "corp", DomainSuffix: "corp.example",
			ExpiresAt: time.Now().Add(time.Hour), LeafSHA256: "aa", RootSHA256: "bb"})
		require.NoError(t, err)
	}
	_, err := s.UpsertDevice(ctx, Device{GUID: guid1, TenantID: tenantA})
	require.NoError(t, err)
	_, err = s.UpsertDevice(ctx, Device{GUID: guid2, TenantID: tenantB})
	require.NoError(t, err)
	_, err = s.PutJournal(ctx, JournalEntry{GUID: guid1, TenantID: tenantA, Kind: OpPower})
	require.NoError(t, err)

	require.NoError(t, s.DeleteTenant(ctx, tenantA))

	_, err = s.GetDevice(ctx, guid1)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = s.GetJournal(ctx, guid1, OpPower)
	require.ErrorIs(t, err, ErrNotFound)
	ps, err := s.ListProfiles(ctx, tenantA)
	require.NoError(t, err)
	require.Empty(t, ps)
	ds, err := s.ListDomains(ctx, tenantA)
	require.NoError(t, err)
	require.Empty(t, ds)

	_, err = s.GetDevice(ctx, guid2)
	require.NoError(t, err, "other tenants are untouched")
	ds, err = s.ListDomains(ctx, tenantB)
	require.NoError(t, err)
	require.Len(t, ds, 1)
}

func TestProfiles(t *testing.T) {
	s := openMigrated(t)
	ctx := context.Background()
	_, err := s.UpsertProfile(ctx, Profile{TenantID: tenantA, Name: tenantA + "_ccm", Activation: ActivationCCM})
	require.ErrorIs(t, err, ErrUnknownTenant)

	seedTenants(t, s, tenantA)
	ccm, err := s.UpsertProfile(ctx, Profile{TenantID: tenantA, Name: tenantA + "_ccm", Activation: ActivationCCM,
		CIRAConfig: tenantA})
	require.NoError(t, err)
	require.Equal(t, ConsentAll, ccm.UserConsent)
	require.Equal(t, []string{}, ccm.Tags)
	require.Equal(t, DefaultFeatures, ccm.Features, "a new profile has EMF's features")
	acm, err := s.UpsertProfile(ctx, Profile{TenantID: tenantA, Name: tenantA + "_acm", Activation: ActivationACM,
		CIRAConfig: tenantA, UserConsent: ConsentNone, Tags: []string{"edge", "acm"}})
	require.NoError(t, err)

	got, err := s.GetProfile(ctx, tenantA, tenantA+"_acm")
	require.NoError(t, err)
	require.Equal(t, acm, got)
	list, err := s.ListProfiles(ctx, tenantA)
	require.NoError(t, err)
	require.Equal(t, []Profile{acm, ccm}, list)

	acm.Tags = []string{"changed"}
	again, err := s.UpsertProfile(ctx, acm)
	require.NoError(t, err)
	require.Equal(t, []string{"changed"}, again.Tags)

	// The tenant's features survive the tenant reconciler's upsert, whatever its Profile carries.
	mine := Features{KVM: false, SOL: false, IDER: true, TLSMode: TLSModeServer}
	set, err := s.SetProfileFeatures(ctx, tenantA, tenantA+"_acm", mine)
	require.NoError(t, err)
	require.Equal(t, mine, set.Features)
	again, err = s.UpsertProfile(ctx, Profile{TenantID: tenantA, Name: tenantA + "_acm", Activation: ActivationACM,
		CIRAConfig: tenantA, UserConsent: ConsentNone, Features: DefaultFeatures})
	require.NoError(t, err)
	require.Equal(t, mine, again.Features)
	_, err = s.SetProfileFeatures(ctx, tenantA, "nope", mine)
	require.ErrorIs(t, err, ErrNotFound)
	// Modes refusing non-TLS connections would cut the gateway off (16992): the column refuses them.
	_, err = s.SetProfileFeatures(ctx, tenantA, tenantA+"_acm", Features{TLSMode: 1})
	require.ErrorIs(t, err, ErrInvalid)

	_, err = s.GetProfile(ctx, tenantA, "nope")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = s.UpsertProfile(ctx, Profile{TenantID: tenantA, Name: "x", Activation: "tcm"})
	require.ErrorIs(t, err, ErrInvalid)
}

func TestDomains(t *testing.T) {
	s := openMigrated(t)
	ctx := context.Background()
	seedTenants(t, s, tenantA, tenantB)
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	d := Domain{TenantID: tenantA, ProfileName: "corp", DomainSuffix: "Corp.Example.com", ExpiresAt: exp,
		LeafSHA256: "0011", RootSHA256: "2233"}
	created, err := s.InsertDomain(ctx, d)
	require.NoError(t, err)
	require.True(t, exp.Equal(created.ExpiresAt))

	tests := []struct {
		name  string
		d     Domain
		field string
	}{
		{"same name", Domain{TenantID: tenantA, ProfileName: "corp", DomainSuffix: "other.example"}, "profile_name"},
		{"same suffix other case", Domain{TenantID: tenantA, ProfileName: "corp2", DomainSuffix: "corp.example.COM"},
			"domain_suffix"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.d.ExpiresAt = exp
			_, err := s.InsertDomain(ctx, tc.d)
			require.ErrorIs(t, err, ErrDuplicate)
			var dup *DuplicateError
			require.True(t, errors.As(err, &dup))
			require.Equal(t, tc.field, dup.Field)
			require.Equal(t, "domain", dup.Entity)
		})
	}
	_, err = s.InsertDomain(ctx, Domain{TenantID: tenantB, ProfileName: "corp", DomainSuffix: "corp.example.com",
		ExpiresAt: exp})
	require.NoError(t, err, "uniqueness is per tenant")
	_, err = s.InsertDomain(ctx, Domain{TenantID: "33333333-3333-3333-3333-333333333333", ProfileName: "x",
		DomainSuffix: "x", ExpiresAt: exp})
	require.ErrorIs(t, err, ErrUnknownTenant)

	got, err := s.GetDomain(ctx, tenantA, "corp")
	require.NoError(t, err)
	require.Equal(t, created, got)
	got, err = s.GetDomainBySuffix(ctx, tenantA, "CORP.example.com")
	require.NoError(t, err)
	require.Equal(t, created, got)
	_, err = s.GetDomainBySuffix(ctx, tenantA, "example.com")
	require.ErrorIs(t, err, ErrNotFound)
	list, err := s.ListDomains(ctx, tenantA)
	require.NoError(t, err)
	require.Equal(t, []Domain{created}, list)

	require.NoError(t, s.DeleteDomain(ctx, tenantA, "corp"))
	require.ErrorIs(t, s.DeleteDomain(ctx, tenantA, "corp"), ErrNotFound)
	_, err = s.GetDomain(ctx, tenantA, "corp")
	require.ErrorIs(t, err, ErrNotFound)
}

func TestDevices(t *testing.T) {
	s := openMigrated(t)
	ctx := context.Background()
	_, err := s.UpsertDevice(ctx, Device{GUID: guid1, TenantID: tenantA})
	require.ErrorIs(t, err, ErrUnknownTenant)
	seedTenants(t, s, tenantA)

	d, err := s.UpsertDevice(ctx, Device{GUID: "AAAAAAAA-0000-0000-0000-000000000001", TenantID: tenantA,
		HostResourceID: "host-1234abcd", CIRAUsername: "cira-1", ControlMode: ControlModeCCM,
		ActivationState: StateActivated, DNSSuffix: "corp.example", AMTVersion: "16.1.27", AMTBuild: "2225",
		AMTSKU: "AMT"})
	require.NoError(t, err)
	require.Equal(t, guid1, d.GUID, "GUIDs come back lower-case canonical")
	require.Equal(t, ConnectionNever, d.ConnectionState)
	require.True(t, d.LastSeenAt.IsZero())
	require.JSONEq(t, `{}`, string(d.Facts))

	// Devices may share a CIRA username (EMF configures "admin" on every device): the gateway goes by GUID.
	shared, err := s.UpsertDevice(ctx, Device{GUID: guid2, TenantID: tenantA, CIRAUsername: "cira-1"})
	require.NoError(t, err)
	require.Equal(t, "cira-1", shared.CIRAUsername)
	got, err := s.GetDevice(ctx, guid1)
	require.NoError(t, err)
	require.Equal(t, d, got, "the first device keeps its record")
	d2, err := s.UpsertDevice(ctx, Device{GUID: guid2, TenantID: tenantA})
	require.NoError(t, err)
	require.Empty(t, d2.CIRAUsername, "no CIRA credentials yet")
	require.Equal(t, StateUnprovisioned, d2.ActivationState)

	require.NoError(t, s.MergeDeviceFacts(ctx, guid1, map[string]string{"features": "AMT Pro", "hostname": "h1"}))
	require.NoError(t, s.MergeDeviceFacts(ctx, guid1, map[string]string{"hostname": "h2"}))
	got, err = s.GetDevice(ctx, guid1)
	require.NoError(t, err)
	require.JSONEq(t, `{"features":"AMT Pro","hostname":"h2"}`, string(got.Facts), "merged, others kept")
	require.ErrorIs(t, s.MergeDeviceFacts(ctx, "aaaaaaaa-0000-0000-0000-0000000000ff", nil), ErrNotFound)

	d.ControlMode, d.ActivationState = ControlModePre, StateDeactivating
	again, err := s.UpsertDevice(ctx, d)
	require.NoError(t, err)
	require.Equal(t, StateDeactivating, again.ActivationState)
	require.JSONEq(t, `{"features":"AMT Pro","hostname":"h2"}`, string(again.Facts), "upsert leaves facts alone")

	list, err := s.ListDevicesByTenant(ctx, tenantA)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, guid1, list[0].GUID)

	_, err = s.UpsertDevice(ctx, Device{GUID: guid1, TenantID: tenantA, ControlMode: 7})
	require.ErrorIs(t, err, ErrInvalid)

	require.NoError(t, s.DeleteDevice(ctx, guid1))
	require.ErrorIs(t, s.DeleteDevice(ctx, guid1), ErrNotFound)
}

func TestJournal(t *testing.T) {
	s := openMigrated(t)
	ctx := context.Background()
	seedTenants(t, s, tenantA)
	now := time.Now().UTC().Truncate(time.Microsecond)

	e := JournalEntry{GUID: guid1, TenantID: tenantA, Kind: OpPower, Sequence: json.RawMessage(`["soft_off","hard_off"]`),
		Step: "soft_off", Desired: 3, Policy: 1, StepStartedAt: now, DeadlineAt: now.Add(30 * time.Second)}
	put, err := s.PutJournal(ctx, e)
	require.NoError(t, err)
	require.True(t, now.Equal(put.StepStartedAt))

	got, err := s.GetJournal(ctx, guid1, OpPower)
	require.NoError(t, err)
	require.Equal(t, put, got)
	require.JSONEq(t, `["soft_off","hard_off"]`, string(got.Sequence))

	_, err = s.PutJournal(ctx, JournalEntry{GUID: guid2, TenantID: tenantA, Kind: OpPower})
	require.NoError(t, err, "no deadline")
	_, err = s.PutJournal(ctx, JournalEntry{GUID: guid2, TenantID: tenantA, Kind: OpDeactivation,
		DeadlineAt: now.Add(-time.Minute)})
	require.NoError(t, err)

	all, err := s.ListJournal(ctx, guid2)
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.Equal(t, []OpKind{OpDeactivation, OpPower}, []OpKind{all[0].Kind, all[1].Kind})
	all, err = s.ListJournal(ctx, "aaaaaaaa-0000-0000-0000-0000000000ff")
	require.NoError(t, err)
	require.Empty(t, all)
	_, err = s.ListJournal(ctx, "not-a-guid")
	require.ErrorIs(t, err, ErrInvalid)

	due, err := s.ListDueJournal(ctx, now)
	require.NoError(t, err)
	require.Len(t, due, 1)
	require.Equal(t, OpDeactivation, due[0].Kind)
	due, err = s.ListDueJournal(ctx, now.Add(time.Minute))
	require.NoError(t, err)
	require.Len(t, due, 2)
	require.Equal(t, OpPower, due[1].Kind)

	e.Step, e.HardActionSent, e.Attempts, e.LastError = "hard_off", true, 2, "soft off timed out"
	e.DeadlineAt = time.Time{}
	updated, err := s.PutJournal(ctx, e)
	require.NoError(t, err)
	require.True(t, updated.HardActionSent)
	require.True(t, updated.DeadlineAt.IsZero())
	require.Equal(t, put.CreatedAt, updated.CreatedAt)

	_, err = s.PutJournal(ctx, JournalEntry{GUID: guid1, TenantID: tenantA, Kind: "reboot"})
	require.ErrorIs(t, err, ErrInvalid)

	require.NoError(t, s.DeleteJournal(ctx, guid1, OpPower))
	require.NoError(t, s.DeleteJournal(ctx, guid1, OpPower), "deleting twice is fine")
	_, err = s.GetJournal(ctx, guid1, OpPower)
	require.ErrorIs(t, err, ErrNotFound)
}
