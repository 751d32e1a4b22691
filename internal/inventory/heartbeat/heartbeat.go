// Package heartbeat bounds the heartbeat of Inventory's client library. It is its own package so that test rigs,
// which the inventory package's own tests import, can use it too.
package heartbeat

import (
	"errors"
	"flag"
	"time"
)

// Deadline bounds one heartbeat of Inventory's client, all its retries included. The library's 1 s made a busy
// Inventory (a load test starving the machine) end the process through the library's log.Fatal, dropping every CIRA
// session; a dead Inventory still ends the event stream, which the client's owner sees.
const Deadline = 15 * time.Second

// Relax sets the library's heartbeat deadline to Deadline for every client of this process: a flag the library
// registers on the default flag set (dm-manager parses its own set, so nothing else sets it). Test rigs call it
// too: a rig's client killed by the library ends the whole harness, silently when its logger is off.
func Relax() error {
	f := flag.Lookup("heatbeatBackoffInterval") // sic: the library's spelling
	if f == nil {
		return errors.New("inventory: the client library no longer has the heatbeatBackoffInterval flag; review its heartbeat")
	}
	return f.Value.Set(Deadline.String())
}
