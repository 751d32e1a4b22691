// Package dmmanager carries what belongs to the repository as a whole: the release version.
package dmmanager

import (
	_ "embed"
	"strings"
)

//go:embed VERSION
var rawVersion string

// Version is the content of the repository's VERSION file, embedded at build time so that
// `go run ./cmd/dm-manager --version` and release builds report the same thing without ldflags.
var Version = strings.TrimSpace(rawVersion)
