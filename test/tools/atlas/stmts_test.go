package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSplitStmts(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"empty", "", nil},
		{"comment only", "-- intentionally empty\n", nil},
		{"block comment only", "/* a; b */\n", nil},
		{"two statements", "CREATE TABLE a (x int);\nCREATE TABLE b (y int);\n",
			[]string{"CREATE TABLE a (x int);", "CREATE TABLE b (y int);"}},
		{"leading comments dropped", "-- make a\n/* note */ CREATE TABLE a (x int);",
			[]string{"CREATE TABLE a (x int);"}},
		{"inner comment kept", "UPDATE a SET x = 1 -- why; not here\nWHERE y = 2;",
			[]string{"UPDATE a SET x = 1 -- why; not here\nWHERE y = 2;"}},
		{"no trailing semicolon", "SELECT 1;\nSELECT 2", []string{"SELECT 1;", "SELECT 2"}},
		{"semicolon in string", "INSERT INTO a VALUES ('x;y''z');", []string{"INSERT INTO a VALUES ('x;y''z');"}},
		{"escape string", `SELECT E'a\';b';`, []string{`SELECT E'a\';b';`}},
		{"quoted identifier", `CREATE TABLE "a;b" (x int);`, []string{`CREATE TABLE "a;b" (x int);`}},
		{"do block", "DO $$\nBEGIN\n  PERFORM 1;\n  RAISE NOTICE 'x';\nEND$$;\nSELECT 1;",
			[]string{"DO $$\nBEGIN\n  PERFORM 1;\n  RAISE NOTICE 'x';\nEND$$;", "SELECT 1;"}},
		{"tagged dollar quote", "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $$ $body$ LANGUAGE sql;",
			[]string{"CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $$ $body$ LANGUAGE sql;"}},
		{"positional parameter is not a quote", "PREPARE p AS SELECT $1; SELECT 2;",
			[]string{"PREPARE p AS SELECT $1;", "SELECT 2;"}},
		{"nested block comment", "SELECT /* a /* b; */ c; */ 1;", []string{"SELECT /* a /* b; */ c; */ 1;"}},
		{"semicolon in parentheses", "SELECT (1;2);", []string{"SELECT (1;2);"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := splitStmts(tt.src)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestSplitStmtsErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unclosed quote", "SELECT 'abc;", `1:8: unclosed quote '\''`},
		{"unclosed dollar", "SELECT 1;\nDO $$ BEGIN", "2:4: unclosed dollar-quoted string $$"},
		{"unclosed comment", "SELECT /* x", "1:8: unclosed block comment"},
		{"unclosed paren", "SELECT (1", "1:8: unclosed '('"},
		{"stray paren", "SELECT 1)", "1:9: unexpected ')'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := splitStmts(tt.src)
			var se *SyntaxError
			require.ErrorAs(t, err, &se)
			require.Equal(t, tt.want, err.Error())
		})
	}
}

// The counts below are what atlas' own lexer reports for these files (emf-conventions §2.2).
func TestSplitStmtsInventoryMigrations(t *testing.T) {
	dir := inventoryMigrationsDir(t)
	for name, want := range map[string]int{
		"20230600000000_empty.sql":                     0,
		"20250324165719_all.sql":                       79,
		"20251017124853_empty_deprecated_columns.sql":  8,
		"20251017133722_remove_deprecated_columns.sql": 6,
	} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		stmts, err := splitStmts(string(b))
		require.NoError(t, err)
		require.Len(t, stmts, want, name)
	}
}

// FuzzSplitStmts checks the splitter never panics and that every statement it returns splits back to itself.
func FuzzSplitStmts(f *testing.F) {
	for _, s := range []string{
		"", "SELECT 1;", "DO $$ BEGIN PERFORM 1; END $$;", "SELECT 'a;''b';", `SELECT E'\';';`,
		"-- c\nSELECT /* x /* y */ */ 1; SELECT $t$ ; $t$", "SELECT (1;2); SELECT $1", `SELECT "a;""b"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		stmts, err := splitStmts(src)
		if err != nil {
			return
		}
		for _, s := range stmts {
			again, err := splitStmts(s)
			require.NoError(t, err, "statement %q", s)
			require.Equal(t, []string{s}, again)
		}
	})
}
