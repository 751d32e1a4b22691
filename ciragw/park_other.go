//go:build !linux

package ciragw

import "syscall"

// Elsewhere sessions wait in Read, as they did before parking.
const canPark = false

func waitReadable(syscall.RawConn) error { return nil }
