// Command atlas is a stand-in for the one atlas CLI call Inventory's test environment makes:
//
//	atlas migrate apply --dir file://DIR --url URL --baseline VERSION
//
// It follows emf-conventions §2.2: it validates atlas.sum, keeps atlas' revision table, and applies each pending
// file in its own transaction under an advisory lock. Nothing else of atlas is implemented.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// usage is printed for any other command line.
const usage = "usage: atlas migrate apply --dir file://DIR --url URL [--baseline VERSION]"

// runTimeout bounds a whole run; Inventory's caller gives atlas 60s.
const runTimeout = 5 * time.Minute

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	cancel()
	os.Exit(code)
}

// run executes the command line and returns the process exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n%s\n", err, usage)
		return 2
	}
	if err := apply(ctx, opts, stdout); err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	return 0
}

// options of `migrate apply`.
type options struct {
	dir         string        // local directory path (from file://DIR)
	url         string        // postgres:// URL
	baseline    string        // version to record as baseline on an empty revision table
	lockTimeout time.Duration // how long to wait for another apply holding the lock
}

func parseArgs(args []string) (options, error) {
	if len(args) < 2 || args[0] != "migrate" || args[1] != "apply" {
		return options{}, errors.New("only `migrate apply` is supported")
	}
	fs := flag.NewFlagSet("migrate apply", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("dir", "", "migration directory URL (file://DIR)")
	url := fs.String("url", "", "database URL")
	baseline := fs.String("baseline", "", "baseline version")
	if err := fs.Parse(args[2:]); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	path, ok := strings.CutPrefix(*dir, "file://")
	if !ok || path == "" {
		return options{}, fmt.Errorf("--dir must be file://DIR, got %q", *dir)
	}
	if *url == "" {
		return options{}, errors.New("--url is required")
	}
	return options{dir: path, url: *url, baseline: *baseline, lockTimeout: 30 * time.Second}, nil
}
