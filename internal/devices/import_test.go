package devices

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/secrets"
	"github.com/dmrm/dm-manager/internal/store"
)

// importDevice is one row to import.
type importDevice struct {
	guid, tenant, user, ciraPass, amtPass, mebxPass, mode string
}

func newImportDevice(tenant string) importDevice {
	return importDevice{guid: uuid.NewString(), tenant: tenant, user: randomUsername(), ciraPass: "Cira" + randomUsername(),
		amtPass: "Amt-P4ss-" + randomUsername()}
}

func csvFile(rows ...importDevice) string {
	var b strings.Builder
	b.WriteString("guid,tenant,cira_username,cira_password,amt_password,mebx_password,control_mode\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s,%s\n", r.guid, r.tenant, r.user, r.ciraPass, r.amtPass, r.mebxPass, r.mode)
	}
	return b.String()
}

func requireImported(t *testing.T, st *store.Store, sec secrets.Store, r importDevice, mode store.ControlMode) {
	t.Helper()
	ctx := context.Background()
	d, err := st.GetDevice(ctx, strings.ToLower(r.guid))
	require.NoError(t, err)
	require.Equal(t, strings.ToLower(r.tenant), d.TenantID)
	require.Equal(t, r.user, d.CIRAUsername)
	require.Equal(t, mode, d.ControlMode)
	require.Equal(t, store.StateActivated, d.ActivationState)
	path, err := secrets.Device(d.TenantID, d.GUID)
	require.NoError(t, err)
	m, err := sec.Get(ctx, path)
	require.NoError(t, err)
	require.Equal(t, r.user, m[secrets.KeyCIRAUsername])
	require.Equal(t, r.ciraPass, m[secrets.KeyCIRAPassword])
	require.Equal(t, r.amtPass, m[secrets.KeyAMTPassword])
	if r.mebxPass != "" {
		require.Equal(t, r.mebxPass, m[secrets.KeyMEBxPassword])
	}
}

func requireNotImported(t *testing.T, st *store.Store, sec secrets.Store, r importDevice) {
	t.Helper()
	ctx := context.Background()
	_, err := st.GetDevice(ctx, strings.ToLower(r.guid))
	require.ErrorIs(t, err, store.ErrNotFound)
	if path, err := secrets.Device(strings.ToLower(r.tenant), strings.ToLower(r.guid)); err == nil {
		_, err = sec.Get(ctx, path)
		require.ErrorIs(t, err, secrets.ErrNotFound)
	}
}

func TestImportCSV(t *testing.T) {
	st, sec := backends(t)
	ctx := context.Background()
	known := newTenant(t, st)
	fresh := uuid.NewString()
	a, b, c := newImportDevice(known), newImportDevice(known), newImportDevice(fresh)
	b.guid, b.tenant = strings.ToUpper(b.guid), strings.ToUpper(b.tenant) // canonicalised on import
	b.mebxPass, b.mode = "Mebx-P4ss!", "ACM"

	im := NewImporter(st, sec, zerolog.Nop())
	rep, err := im.Import(ctx, strings.NewReader("\ufeff"+csvFile(a, b, c)), FormatCSV)
	require.NoError(t, err)
	require.Equal(t, Report{Rows: 3, Created: 3, TenantsCreated: []string{fresh}}, rep)
	requireImported(t, st, sec, a, store.ControlModeCCM)
	requireImported(t, st, sec, b, store.ControlModeACM)
	requireImported(t, st, sec, c, store.ControlModeCCM)
	tn, err := st.GetTenant(ctx, fresh)
	require.NoError(t, err)
	require.Empty(t, tn.CIRAServerAddress, "a created tenant is left for the tenant reconciler to bootstrap")

	// Importing again updates in place: new passwords, kept MEBx password and host id.
	_, err = st.UpsertDevice(ctx, store.Device{GUID: strings.ToLower(b.guid), TenantID: known, HostResourceID: "host-1234abcd",
		CIRAUsername: b.user, ControlMode: store.ControlModeACM, ActivationState: store.StateActivated})
	require.NoError(t, err)
	b2 := b
	b2.ciraPass, b2.amtPass, b2.mebxPass, b2.mode = "Rotated1", "Rotated-P4ss!", "", "acm"
	rep, err = im.Import(ctx, strings.NewReader(csvFile(b2)), FormatCSV)
	require.NoError(t, err)
	require.Equal(t, Report{Rows: 1, Updated: 1}, rep)
	requireImported(t, st, sec, b2, store.ControlModeACM)
	d, err := st.GetDevice(ctx, strings.ToLower(b.guid))
	require.NoError(t, err)
	require.Equal(t, "host-1234abcd", d.HostResourceID)
	path, _ := secrets.Device(known, strings.ToLower(b.guid))
	m, err := sec.Get(ctx, path)
	require.NoError(t, err)
	require.Equal(t, "Mebx-P4ss!", m[secrets.KeyMEBxPassword])

	// Columns in any order, optional ones left out (the amtsim fleet's file).
	e := newImportDevice(known)
	file := "amt_password,cira_username,guid,cira_password,tenant\n" +
		strings.Join([]string{e.amtPass, e.user, e.guid, e.ciraPass, e.tenant}, ",") + "\n"
	rep, err = im.Import(ctx, strings.NewReader(file), FormatCSV)
	require.NoError(t, err)
	require.Equal(t, 1, rep.Created)
	requireImported(t, st, sec, e, store.ControlModeCCM)
}

func TestImportJSON(t *testing.T) {
	st, sec := backends(t)
	ctx := context.Background()
	tenant := newTenant(t, st)
	a, b := newImportDevice(tenant), newImportDevice(tenant)
	file := fmt.Sprintf(`[
  {"guid": %q, "tenant": %q, "cira_username": %q, "cira_password": %q, "amt_password": %q},
  {
    "guid": %q, "tenant": %q, "cira_username": %q, "cira_password": %q, "amt_password": %q,
    "mebx_password": "Mebx-P4ss!", "control_mode": "acm"
  }
]
`, a.guid, a.tenant, a.user, a.ciraPass, a.amtPass, b.guid, b.tenant, b.user, b.ciraPass, b.amtPass)
	rep, err := NewImporter(st, sec, zerolog.Nop()).Import(ctx, strings.NewReader(file), FormatJSON)
	require.NoError(t, err)
	require.Equal(t, Report{Rows: 2, Created: 2}, rep)
	requireImported(t, st, sec, a, store.ControlModeCCM)
	b.mebxPass = "Mebx-P4ss!"
	requireImported(t, st, sec, b, store.ControlModeACM)
}

func TestImportRejects(t *testing.T) {
	st, sec := backends(t)
	ctx := context.Background()
	tenant, otherTenant := newTenant(t, st), newTenant(t, st)
	existing := recordDevice(t, st, sec, tenant)
	elsewhere := recordDevice(t, st, sec, otherTenant)
	ok := newImportDevice(tenant)
	const secret = "Leak-Me-P4ss"

	row := func(mut func(*importDevice)) importDevice {
		r := newImportDevice(tenant)
		mut(&r)
		return r
	}
	dupGUID := newImportDevice(tenant)
	dupGUID2 := newImportDevice(tenant)
	dupGUID2.guid = strings.ToUpper(dupGUID.guid)
	sharedUser := newImportDevice(tenant)
	sharedUser2 := newImportDevice(tenant)
	sharedUser2.user = sharedUser.user

	rows := []importDevice{
		ok, // line 2
		row(func(r *importDevice) { r.guid = "4c4c4544004b42108033b6c04f504633" }), // 3: raw hex
		row(func(r *importDevice) { r.tenant = "" }),                               // 4
		row(func(r *importDevice) { r.user = "has space" }),                        // 5
		row(func(r *importDevice) { r.user = "abcdefghijklmnopq" }),                // 6: 17 chars
		row(func(r *importDevice) { r.ciraPass = "" }),                             // 7
		row(func(r *importDevice) { r.amtPass = "Sh0rt!" }),                        // 8
		row(func(r *importDevice) { r.amtPass = " " + secret }),                    // 9
		row(func(r *importDevice) { r.mebxPass = secret + "\x01" }),                // 10
		row(func(r *importDevice) { r.mode = "admin" }),                            // 11
		dupGUID, dupGUID2, // 12, 13
		sharedUser, sharedUser2, // 14, 15: a shared username is fine
		row(func(r *importDevice) { r.user = existing.username }),                                // 16
		row(func(r *importDevice) { r.guid, r.user = elsewhere.guid, elsewhere.username }),       // 17
		row(func(r *importDevice) { r.ciraPass = strings.Repeat("x", 33) }),                      // 18
		row(func(r *importDevice) { r.guid, r.user, r.amtPass = existing.guid, "", secret+"!" }), // 19
	}
	rep, err := NewImporter(st, sec, zerolog.Nop()).Import(ctx, strings.NewReader(csvFile(rows...)), FormatCSV)
	require.ErrorIs(t, err, ErrImportRejected)
	var got []string
	for _, e := range rep.Errors {
		got = append(got, e.Error())
		require.NotContains(t, e.Error(), secret)
	}
	want := []string{
		"line 3: .*guid: must be a UUID",
		"line 4: .*tenant: required",
		"line 5: .*cira_username: must be letters and digits only",
		"line 6: .*cira_username: longer than the 16 characters",
		"line 7: .*cira_password: required",
		"line 8: .*amt_password: must be 8 to 32 characters",
		"line 9: .*amt_password: starts or ends with a space",
		"line 10: .*mebx_password: must be printable ASCII",
		"line 11: .*control_mode: must be ccm or acm",
		"line 13: .*guid: the same device is on line 12",
		"line 19: .*cira_username: required",
		"line 18: .*cira_password: must be 1 to 32 characters",
	}
	// Store checks run only once the file itself is clean; fix the file-level problems and try again.
	require.Len(t, got, len(want), "%q", got)
	for _, w := range want {
		require.Condition(t, func() bool {
			for _, g := range got {
				if ok, _ := regexp.MatchString(w, g); ok {
					return true
				}
			}
			return false
		}, "missing %q in %q", w, got)
	}
	for _, r := range append(rows[:1], rows[11:15]...) {
		requireNotImported(t, st, sec, r)
	}

	// The store-level problem, with the file otherwise clean; another device's username is no problem.
	rows = []importDevice{
		ok, // 2
		row(func(r *importDevice) { r.user = existing.username }),                        // 3
		row(func(r *importDevice) { r.guid, r.user = elsewhere.guid, randomUsername() }), // 4
	}
	rep, err = NewImporter(st, sec, zerolog.Nop()).Import(ctx, strings.NewReader(csvFile(rows...)), FormatCSV)
	require.ErrorIs(t, err, ErrImportRejected)
	require.Len(t, rep.Errors, 1, "%v", rep.Errors)
	require.Equal(t, 4, rep.Errors[0].Line)
	require.Contains(t, rep.Errors[0].Error(), "tenant: the device is recorded for tenant "+otherTenant)
	requireNotImported(t, st, sec, ok)
	requireNotImported(t, st, sec, rows[1])
	d, err := st.GetDevice(ctx, elsewhere.guid)
	require.NoError(t, err)
	require.Equal(t, elsewhere.username, d.CIRAUsername, "the other tenant's device is untouched")
}

// TestImportSharedUsername: an EMF fleet has CIRA username "admin" on every device; it imports, and each device
// logs in with its own password only, the gateway telling them apart by GUID.
func TestImportSharedUsername(t *testing.T) {
	st, sec := backends(t)
	ctx := context.Background()
	tenant := newTenant(t, st)
	rows := []importDevice{newImportDevice(tenant), newImportDevice(tenant), newImportDevice(tenant)}
	for i := range rows {
		rows[i].user = "admin"
	}
	rep, err := NewImporter(st, sec, zerolog.Nop()).Import(ctx, strings.NewReader(csvFile(rows...)), FormatCSV)
	require.NoError(t, err)
	require.Equal(t, Report{Rows: 3, Created: 3}, rep)

	a := NewAuthenticator(st, sec, AuthOptions{}, zerolog.Nop())
	for i, r := range rows {
		requireImported(t, st, sec, r, store.ControlModeCCM)
		got, err := a.Authenticate(ctx, r.guid, "admin", r.ciraPass)
		require.NoError(t, err, "device %d with its own password", i)
		require.Equal(t, tenant, got)
		other := rows[(i+1)%len(rows)]
		_, err = a.Authenticate(ctx, r.guid, "admin", other.ciraPass)
		require.ErrorIs(t, err, ErrAuthFailed, "device %d with another device's password", i)
	}
}

func TestImportFileErrors(t *testing.T) {
	st, sec := backends(t)
	im := NewImporter(st, sec, zerolog.Nop())
	g, tn := uuid.NewString(), uuid.NewString()
	tests := []struct {
		name, file string
		format     Format
		want       string
	}{
		{"empty CSV", "", FormatCSV, "line 1: the file is empty"},
		{"header only", "guid,tenant,cira_username,cira_password,amt_password\n", FormatCSV, "the file holds no devices"},
		{"unknown column", "guid,tenant,cira_username,cira_password,amt_password,colour\n", FormatCSV, "line 1: colour: unknown column"},
		{"missing column", "guid,tenant,cira_username,cira_password\n", FormatCSV, "line 1: amt_password: required column missing"},
		{"column twice", "guid,guid,tenant,cira_username,cira_password,amt_password\n", FormatCSV, "line 1: guid: column named twice"},
		{"short record", "guid,tenant,cira_username,cira_password,amt_password\n" + g + "," + tn + ",user1,Secret-Field\n",
			FormatCSV, "line 2: CSV syntax: wrong number of fields"},
		{"bad quote", "guid,tenant,cira_username,cira_password,amt_password\n\n" + g + "," + tn + `,user1,"Sec"ret,x` + "\n",
			FormatCSV, "line 3: CSV syntax"},
		{"JSON not an array", `{"guid": "x"}`, FormatJSON, "line 1: JSON: the file must be an array"},
		{"JSON unknown key", "[\n{\"guid\": \"x\",\n \"colour\": \"red\"}]", FormatJSON, `line 2: JSON: unknown field "colour"`},
		{"JSON wrong type", "[\n\n  {\"guid\": \"x\", \"amt_password\": 12345678}]", FormatJSON,
			`line 3: JSON: field "amt_password" must be a string, not a JSON number`},
		{"JSON broken", "[\n{\"guid\": \"x\"},\n{\"guid\": ]", FormatJSON, "line 3: JSON syntax"},
		{"JSON trailing", `[]` + "\n" + `[]`, FormatJSON, "line 2: JSON: unexpected content after the array"},
		{"JSON empty array", `[]`, FormatJSON, "the file holds no devices"},
		{"unknown format", "x", Format("xml"), `unknown format "xml"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := im.Import(context.Background(), strings.NewReader(tc.file), tc.format)
			require.ErrorIs(t, err, ErrImportRejected)
			require.NotEmpty(t, rep.Errors)
			var all []string
			for _, e := range rep.Errors {
				all = append(all, e.Error())
				require.NotContains(t, e.Error(), "Secret")
			}
			require.Contains(t, strings.Join(all, "\n"), tc.want)
		})
	}

	f, err := ParseFormat("JSON")
	require.NoError(t, err)
	require.Equal(t, FormatJSON, f)
	_, err = ParseFormat("yaml")
	require.Error(t, err)
}

// failingSecrets fails the Put of one path, after an optional side effect, to exercise the restore path.
type failingSecrets struct {
	secrets.Store
	failPath string
	before   func()
}

func (f *failingSecrets) Put(ctx context.Context, path string, data map[string]string) error {
	if path == f.failPath {
		if f.before != nil {
			f.before()
			return f.Store.Put(ctx, path, data)
		}
		return errors.New("vault is sealed")
	}
	return f.Store.Put(ctx, path, data)
}

func TestImportAllOrNothing(t *testing.T) {
	st, sec := backends(t)
	ctx := context.Background()
	tenant := newTenant(t, st)
	existing := recordDevice(t, st, sec, tenant)
	upd := importDevice{guid: existing.guid, tenant: tenant, user: existing.username, ciraPass: "Changed1", amtPass: "Changed-P4ss!"}
	a, b := newImportDevice(tenant), newImportDevice(tenant)
	existingPath, _ := secrets.Device(tenant, existing.guid)
	before, err := sec.Get(ctx, existingPath)
	require.NoError(t, err)

	requireUntouched := func() {
		t.Helper()
		requireNotImported(t, st, sec, a)
		requireNotImported(t, st, sec, b)
		now, err := sec.Get(ctx, existingPath)
		require.NoError(t, err)
		require.Equal(t, before, now, "the existing device's secrets are restored")
	}

	// A secrets write fails half-way.
	bPath, _ := secrets.Device(tenant, b.guid)
	im := NewImporter(st, &failingSecrets{Store: sec, failPath: bPath}, zerolog.Nop())
	rep, err := im.Import(ctx, strings.NewReader(csvFile(upd, a, b)), FormatCSV)
	require.ErrorContains(t, err, "vault is sealed")
	require.ErrorContains(t, err, "nothing imported")
	require.Zero(t, rep.Created+rep.Updated)
	requireUntouched()

	// The store write fails after every secret was written: another writer (the tenant reconciler) removes the
	// tenant, with its devices, meanwhile.
	im = NewImporter(st, &failingSecrets{Store: sec, failPath: bPath, before: func() {
		require.NoError(t, st.DeleteTenant(ctx, tenant))
	}}, zerolog.Nop())
	_, err = im.Import(ctx, strings.NewReader(csvFile(upd, a, b)), FormatCSV)
	require.ErrorIs(t, err, store.ErrUnknownTenant)
	requireUntouched()
	_, err = st.GetTenant(ctx, tenant)
	require.ErrorIs(t, err, store.ErrNotFound, "the import does not bring the tenant back")
	_, err = st.GetDevice(ctx, existing.guid)
	require.ErrorIs(t, err, store.ErrNotFound)
}
