package config

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	readmePath  = "../../README.md"
	tableBegin  = "<!-- config-table:begin (generated: UPDATE_README=1 go test ./internal/config -run TestREADME) -->"
	tableEnd    = "<!-- config-table:end -->"
	updateEnvOn = "UPDATE_README"
)

// referenceTable renders Reference() as the README's configuration table.
func referenceTable() string {
	var b strings.Builder
	b.WriteString("| Flag | Environment | Default | Meaning |\n|---|---|---|---|\n")
	for _, s := range Reference() {
		flagCell := "—"
		if s.Flag != "" {
			flagCell = "`-" + s.Flag + "`"
		}
		def := ""
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		envs := strings.Split(s.Env, ", ")
		for i, e := range envs {
			envs[i] = "`" + e + "`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", flagCell, strings.Join(envs, ", "), def,
			strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace(s.Usage))
	}
	return b.String()
}

// TestREADME keeps the README's configuration table equal to the flags; UPDATE_README=1 rewrites it.
func TestREADME(t *testing.T) {
	raw, err := os.ReadFile(readmePath)
	require.NoError(t, err)
	doc := string(raw)
	begin, end := strings.Index(doc, tableBegin), strings.Index(doc, tableEnd)
	require.True(t, begin >= 0 && end > begin, "README.md must contain the table markers")
	want := doc[:begin] + tableBegin + "\n" + referenceTable() + doc[end:]
	if os.Getenv(updateEnvOn) == "1" {
		require.NoError(t, os.WriteFile(readmePath, []byte(want), 0o644))
		return
	}
	require.Equal(t, want, doc, "README configuration table is stale: run UPDATE_README=1 go test ./internal/config -run TestREADME")
	for _, s := range Reference() {
		if s.Flag != "" {
			require.Contains(t, doc, "`-"+s.Flag+"`")
		}
	}
}
