//go:build !linux

package main

import "os"

// divertStdout on other systems leaves stdout alone (Inventory's client logs stay in the story) and opens the log.
func divertStdout(logPath string) (story, logFile *os.File, err error) {
	logFile, err = os.Create(logPath) //nolint:gosec // the operator names the log file
	if err != nil {
		return nil, nil, err
	}
	return os.Stdout, logFile, nil
}

// termWidth is unknown here: lines are not clipped.
func termWidth(*os.File) int { return 0 }
