package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dmrm/dm-manager/internal/devices"
	"github.com/dmrm/dm-manager/internal/store"
	"github.com/dmrm/dm-manager/internal/store/storetest"
)

func TestParseImportArgs(t *testing.T) {
	tests := []struct {
		args       []string
		wantFormat devices.Format
		wantFile   string
		wantRest   []string
		wantErr    string
	}{
		{[]string{"f.csv"}, devices.FormatCSV, "f.csv", nil, ""},
		{[]string{"F.JSON"}, devices.FormatJSON, "F.JSON", nil, ""},
		{[]string{"-format", "json", "-"}, devices.FormatJSON, "-", nil, ""},
		{[]string{"--format=csv", "x.json"}, devices.FormatCSV, "x.json", nil, ""},
		{[]string{"-databaseURL", "postgres://h/db", "-format=json", "-secretsKeyFile=k", "f"}, devices.FormatJSON, "f",
			[]string{"-databaseURL", "postgres://h/db", "-secretsKeyFile=k"}, ""},
		{nil, "", "", nil, "missing FILE"},
		{[]string{"-format=json"}, "", "", nil, "missing FILE"},
		{[]string{"-format", "f.csv"}, "", "", nil, "-format needs a value"},
		{[]string{"-format=xml", "f"}, "", "", nil, `-format: "xml" is not csv or json`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			format, file, rest, err := parseImportArgs(tc.args)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantFormat, format)
			require.Equal(t, tc.wantFile, file)
			require.Equal(t, tc.wantRest, rest)
		})
	}
}

func TestDevicesImportCommand(t *testing.T) {
	dsn, drop, err := storetest.CreateDatabase("dmm_cmddevices_test")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, drop()) })
	key := keyFileArg(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	tenant, g1, g2, g3 := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	const secret = "Amt-Secret-P4ss"

	good := write("devices.csv", "guid,tenant,cira_username,cira_password,amt_password\n"+
		g1+","+tenant+",ciraUser1,CiraSecret1,"+secret+"\n"+
		g2+","+tenant+",ciraUser2,CiraSecret2,"+secret+"\n")
	bad := write("bad.json", `[
  {"guid": "`+g3+`", "tenant": "`+tenant+`", "cira_username": "ciraUser1", "cira_password": "CiraSecret3", "amt_password": "`+secret+`"},
  {"guid": "nope", "tenant": "`+tenant+`", "cira_username": "ciraUser4", "cira_password": "CiraSecret4", "amt_password": "`+secret+`"}
]`)

	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantOut    string
		wantErrOut []string
	}{
		{"usage", []string{"devices"}, "", 2, "", []string{"Usage: dm-manager devices import"}},
		{"unknown subcommand", []string{"devices", "export"}, "", 2, "", []string{"Usage:"}},
		{"help", []string{"devices", "import", "-h"}, "", 0, "", []string{"cira_username"}},
		{"no file", []string{"devices", "import", key}, "", 2, "", []string{"missing FILE"}},
		{"bad flag", []string{"devices", "import", "-passwordPolicy=x", good}, "", 2, "", []string{"-passwordPolicy"}},
		{"missing file", []string{"devices", "import", key, "-databaseURL=" + dsn, filepath.Join(dir, "none.csv")}, "", 1, "",
			[]string{"none.csv: open"}},
		{"rejected", []string{"devices", "import", key, "-databaseURL", dsn, bad}, "", 1, "", []string{
			"nothing imported, 1 problem(s) to fix:", "line 3: device nope: guid: must be a UUID"}},
		{"imported", []string{"devices", "import", key, "-databaseURL=" + dsn, good}, "", 0,
			"imported 2 device(s) from " + good + ": 2 new, 0 updated\nrecorded 1 new tenant(s), to be bootstrapped by the tenant reconciler: " + tenant + "\n", nil},
		// EMF configures every device with CIRA username "admin": a shared username imports (the GUID identifies).
		{"shared username", []string{"devices", "import", key, "-databaseURL=" + dsn, "-format", "json", "-"},
			`[{"guid": "` + g3 + `", "tenant": "` + tenant + `", "cira_username": "ciraUser1", "cira_password": "CiraSecret3", "amt_password": "` + secret + `"}]`,
			0, "imported 1 device(s) from -: 1 new, 0 updated\n", nil},
		{"again from stdin", []string{"devices", "import", key, "-databaseURL=" + dsn, "-"},
			"guid,tenant,cira_username,cira_password,amt_password\n" + g1 + "," + tenant + ",ciraUser1,CiraSecret9," + secret + "\n",
			0, "imported 1 device(s) from -: 0 new, 1 updated\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdin = strings.NewReader(tc.stdin)
			defer func() { stdin = os.Stdin }()
			code, out, errOut := runCapture(t, tc.args...)
			require.Equal(t, tc.wantCode, code, "stderr: %s", errOut)
			if tc.wantCode != 2 {
				require.Equal(t, tc.wantOut, out)
			}
			for _, w := range tc.wantErrOut {
				require.Contains(t, errOut, w)
			}
			for _, s := range []string{secret, "CiraSecret"} {
				require.NotContains(t, out+errOut, s, "never print a secret")
			}
		})
	}

	st, err := store.Open(context.Background(), dsn, store.ConnectOptions{}, zerolog.Nop())
	require.NoError(t, err)
	defer st.Close()
	ds, err := st.ListDevicesByTenant(context.Background(), tenant)
	require.NoError(t, err)
	require.Len(t, ds, 3, "the rejected files imported nothing")
	require.Equal(t, store.StateActivated, ds[0].ActivationState)
}
