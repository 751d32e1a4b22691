package main

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// divertStdout moves file descriptor 1 to logPath and returns a file for the original stdout. Inventory's client
// library logs JSON to the stdout it captured at start-up; diverted, those lines go to the log file and the
// story stays readable.
func divertStdout(logPath string) (story, logFile *os.File, err error) {
	logFile, err = os.Create(logPath) //nolint:gosec // the operator names the log file
	if err != nil {
		return nil, nil, err
	}
	fd, err := syscall.Dup(1)
	if err != nil {
		_ = logFile.Close()
		return nil, nil, fmt.Errorf("dup stdout: %w", err)
	}
	if err := syscall.Dup3(int(logFile.Fd()), 1, 0); err != nil {
		_ = logFile.Close()
		return nil, nil, fmt.Errorf("divert stdout to %s: %w", logPath, err)
	}
	return os.NewFile(uintptr(fd), "stdout"), logFile, nil
}

// termWidth is the terminal's width in columns, 0 when f is not a terminal.
func termWidth(f *os.File) int {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}
