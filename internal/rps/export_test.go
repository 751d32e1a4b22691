package rps

import "testing"

// SetTestHook makes the session reader ("read") and pinger ("ping") call f, until the test ends.
func SetTestHook(tb testing.TB, f func(where string)) {
	testHook.Store(&f)
	tb.Cleanup(func() { testHook.Store(nil) })
}
