//go:build !race

package ciragw

// raceEnabled: the race detector slows the gateway several times; load tests scale down under it.
const raceEnabled = false
