// Command dm-manager is the Device Management Resource Manager: config -> wiring -> run -> graceful stop.
//
//	dm-manager [serve] [flags]   run the manager (default)
//	dm-manager --version         print the version
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command runs one subcommand and returns the process exit code: 0 ok, 1 runtime failure, 2 bad usage.
type command func(ctx context.Context, args []string, stdout, stderr io.Writer, h hooks) int

// commands lists the subcommands; operator tools (e.g. "devices import") are added here.
var commands = map[string]command{
	"serve":   serve,
	"devices": devicesCmd,
}

// run is main without the process: tests call it in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return dispatch(ctx, args, stdout, stderr, hooks{})
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer, h hooks) int {
	name, rest := "serve", args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, rest = args[0], args[1:]
	}
	cmd, ok := commands[name]
	if !ok {
		names := make([]string, 0, len(commands))
		for n := range commands {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(stderr, "dm-manager: unknown command %q; commands: %s (serve is the default)\n", name, strings.Join(names, ", "))
		return 2
	}
	return cmd(ctx, rest, stdout, stderr, h)
}
