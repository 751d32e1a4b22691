package amtsim

import (
	"testing"
	"time"
)

// FuzzParseTLVs: the BIOS side of UEFI boot parameters never panics and never reads past the array.
func FuzzParseTLVs(f *testing.F) {
	f.Add("hoABABwAAABodHRwczovL2V4YW1wbGUuY29tL2Jvb3QuaXNvhoAUAAEAAAAB")
	f.Add("hoABAAQAAABAAAAE")
	f.Add("hoABAP////8=")
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := parseTLVs(s)
		if err != nil {
			return
		}
		for _, p := range ps {
			if len(p.value) > len(s) {
				t.Fatalf("value of %d bytes from %d characters", len(p.value), len(s))
			}
		}
	})
}

// FuzzParseInterval: AlarmClock intervals parse or are refused; accepted ones render back the same duration.
func FuzzParseInterval(f *testing.F) {
	for _, s := range []string{"P0DT0H5M", "PT5M", "P1DT23H59M", "PT24H", "P1DT0H0M30S"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseInterval(s)
		if !ok {
			return
		}
		if d < 0 || d%time.Minute != 0 {
			t.Fatalf("%q parsed to %v", s, d)
		}
		if d2, ok := parseInterval(duration(d)); !ok || d2 != d {
			t.Fatalf("%q: %v renders %q, parses to %v", s, d, duration(d), d2)
		}
	})
}
