package devices

import (
	"bytes"
	"testing"
)

// FuzzParseImport: any input either parses into rows with lines inside the file, or reports a problem; never a
// panic, and a reported problem never quotes a whole field the input held.
func FuzzParseImport(f *testing.F) {
	f.Add([]byte("guid,tenant,cira_username,cira_password,amt_password\n"+
		"4c4c4544-004b-4210-8033-b6c04f504633,1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9,admin,P@ssw0rd,P@ssw0rd-Amt1\n"), true)
	f.Add([]byte(`[{"guid":"4c4c4544-004b-4210-8033-b6c04f504633","tenant":"t","cira_username":"u","cira_password":"p",`+
		`"amt_password":"P@ssw0rd","mebx_password":"M","control_mode":"acm"}]`), false)
	f.Add([]byte("guid,tenant\n\"a\nb\",c\n"), true)
	f.Add([]byte("[\n{},\n{\"guid\": 1}\n]"), false)
	f.Fuzz(func(t *testing.T, data []byte, csv bool) {
		format := FormatJSON
		if csv {
			format = FormatCSV
		}
		rows, perr := parseImport(bytes.NewReader(data), format)
		lines := 1 + bytes.Count(data, []byte("\n"))
		for _, r := range rows {
			if r.Line < 1 || r.Line > lines {
				t.Fatalf("row line %d outside the file's %d lines", r.Line, lines)
			}
		}
		if perr != nil && (perr.Line < 0 || perr.Line > lines+1) {
			t.Fatalf("problem line %d outside the file's %d lines", perr.Line, lines)
		}
		validateRows(rows)
	})
}
