//go:build !linux

package apfclient

import "syscall"

func bindAddressOnly(_, _ string, _ syscall.RawConn) error { return nil }
