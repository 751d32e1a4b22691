// Package heartbeat bounds the heartbeat of Inventory's client library. It is its own package so that test rigs,
// which the inventory package's own tests import, can use it too.
package heartbeat

import (
	"errors"
	"flag"
	"time"

	// Registers the flag set below; imported here so that its init runs before this package's.
	_ "github.com/open-edge-platform/infra-core/inventory/v2/pkg/client"
)

// Deadline bounds one heartbeat of Inventory's client, all its retries included. The library's 1 s made a busy
// Inventory (a load test starving the machine) end the process through the library's log.Fatal, dropping every CIRA
// session; a dead Inventory still ends the event stream, which the client's owner sees.
const Deadline = 15 * time.Second

const flagName = "heatbeatBackoffInterval" // sic: the library's spelling

// The library reads its flag, registered on the default flag set, in every heartbeat of every client without a
// lock: the only moment to set it without racing a client is before any exists, at init. dm-manager parses its own
// flag set, so nothing sets it later.
func init() {
	if f := flag.Lookup(flagName); f != nil {
		_ = f.Value.Set(Deadline.String())
	}
}

// Check reports an error when the deadline is not in force: the client library no longer has the flag. Importing
// this package sets it; every place that makes an Inventory client calls Check, so an upgrade of the library that
// drops the flag fails loudly.
func Check() error {
	f := flag.Lookup(flagName)
	if f == nil {
		return errors.New("inventory: the client library no longer has the " + flagName + " flag; review its heartbeat")
	}
	if f.Value.String() != Deadline.String() {
		return errors.New("inventory: the client library's " + flagName + " flag is " + f.Value.String() + ", not " + Deadline.String())
	}
	return nil
}
