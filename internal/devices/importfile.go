package devices

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Format is the syntax of an import file.
type Format string

// Import file formats. Both carry the same fields (see Importer.Import).
const (
	FormatCSV  Format = "csv"
	FormatJSON Format = "json"
)

// ParseFormat accepts "csv" or "json", any case.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case FormatCSV, FormatJSON:
		return f, nil
	}
	return "", fmt.Errorf("devices: import format %q is not csv or json", s)
}

// MaxImportBytes bounds an import file (about 200,000 devices).
const MaxImportBytes = 64 << 20

// Import file fields. The CSV header names them; JSON objects use them as keys.
const (
	colGUID         = "guid"
	colTenant       = "tenant"
	colCIRAUsername = "cira_username"
	colCIRAPassword = "cira_password"
	colAMTPassword  = "amt_password"
	colMEBxPassword = "mebx_password"
	colControlMode  = "control_mode"
)

var (
	requiredColumns = []string{colGUID, colTenant, colCIRAUsername, colCIRAPassword, colAMTPassword}
	knownColumns    = append(slices.Clone(requiredColumns), colMEBxPassword, colControlMode)
)

// importRow is one device of the file, as written (not yet validated).
type importRow struct {
	Line         int    `json:"-"`
	GUID         string `json:"guid"`
	Tenant       string `json:"tenant"`
	CIRAUsername string `json:"cira_username"`
	CIRAPassword string `json:"cira_password"`
	AMTPassword  string `json:"amt_password"`
	MEBxPassword string `json:"mebx_password"`
	ControlMode  string `json:"control_mode"`
}

// parseImport reads every row. A problem that stops reading (bad syntax, a bad header) comes back as a RowError
// with the line where it was found; rows read before it are returned too but are not to be imported.
func parseImport(r io.Reader, format Format) ([]importRow, *RowError) {
	data, err := io.ReadAll(io.LimitReader(r, MaxImportBytes+1))
	if err != nil {
		return nil, &RowError{Problem: "reading the file: " + err.Error()}
	}
	if len(data) > MaxImportBytes {
		return nil, &RowError{Problem: fmt.Sprintf("the file is larger than %d MiB; split it", MaxImportBytes>>20)}
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff")) // spreadsheet programs start UTF-8 CSV with a BOM
	switch format {
	case FormatCSV:
		return parseCSV(data)
	case FormatJSON:
		return parseJSON(data)
	}
	return nil, &RowError{Problem: fmt.Sprintf("unknown format %q", format)}
}

func parseCSV(data []byte) ([]importRow, *RowError) {
	cr := csv.NewReader(bytes.NewReader(data))
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &RowError{Line: 1, Problem: "the file is empty; the first line must name the columns: " +
			strings.Join(requiredColumns, ",")}
	}
	if err != nil {
		return nil, csvError(err)
	}
	index := map[string]int{}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		if !slices.Contains(knownColumns, name) {
			return nil, &RowError{Line: 1, Field: h, Problem: "unknown column; the columns are " + strings.Join(knownColumns, ", ")}
		}
		if _, dup := index[name]; dup {
			return nil, &RowError{Line: 1, Field: name, Problem: "column named twice"}
		}
		index[name] = i
	}
	for _, name := range requiredColumns {
		if _, ok := index[name]; !ok {
			return nil, &RowError{Line: 1, Field: name, Problem: "required column missing from the header"}
		}
	}
	get := func(rec []string, name string) string {
		if i, ok := index[name]; ok {
			return rec[i]
		}
		return ""
	}
	var rows []importRow
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return rows, csvError(err)
		}
		line, _ := cr.FieldPos(0)
		rows = append(rows, importRow{
			Line: line, GUID: get(rec, colGUID), Tenant: get(rec, colTenant), CIRAUsername: get(rec, colCIRAUsername),
			CIRAPassword: get(rec, colCIRAPassword), AMTPassword: get(rec, colAMTPassword),
			MEBxPassword: get(rec, colMEBxPassword), ControlMode: get(rec, colControlMode),
		})
	}
}

// csvError reports where the CSV syntax broke; the record itself is not quoted, it may hold passwords.
func csvError(err error) *RowError {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &RowError{Line: pe.Line, Problem: "CSV syntax: " + pe.Err.Error()}
	}
	return &RowError{Problem: "CSV: " + err.Error()}
}

// parseJSON reads an array of objects, noting the line where each object starts.
func parseJSON(data []byte) ([]importRow, *RowError) {
	dec := json.NewDecoder(bytes.NewReader(data))
	lineAt := func(off int64) int {
		// Skip the separators between the previous token and the value, so the line is the object's own.
		for int(off) < len(data) && strings.IndexByte(" \t\r\n,", data[off]) >= 0 {
			off++
		}
		return 1 + bytes.Count(data[:off], []byte("\n"))
	}
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('[') {
		return nil, &RowError{Line: lineAt(0), Problem: "JSON: the file must be an array of device objects"}
	}
	var rows []importRow
	for dec.More() {
		line := lineAt(dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return rows, &RowError{Line: line, Problem: "JSON syntax: " + jsonProblem(err)}
		}
		row := importRow{Line: line}
		obj := json.NewDecoder(bytes.NewReader(raw))
		obj.DisallowUnknownFields()
		if err := obj.Decode(&row); err != nil {
			return rows, &RowError{Line: line, Problem: "JSON: " + jsonProblem(err)}
		}
		row.Line = line
		rows = append(rows, row)
	}
	if _, err := dec.Token(); err != nil {
		return rows, &RowError{Line: lineAt(dec.InputOffset()), Problem: "JSON syntax: " + jsonProblem(err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return rows, &RowError{Line: lineAt(dec.InputOffset()), Problem: "JSON: unexpected content after the array"}
	}
	return rows, nil
}

// jsonProblem describes a decoding error without quoting values (a wrong-typed value may be a password).
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q must be a string, not a JSON %s", te.Field, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Error()
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field ") {
		return "unknown field " + strings.TrimPrefix(msg, "json: unknown field ") + "; the fields are " +
			strings.Join(knownColumns, ", ")
	}
	return msg
}
