// Package chaos is dm-manager's fault suite: the real Inventory server and dm-manager run as processes (built
// from source), on Postgres, with a fleet of amtsim devices dialling the CIRA gateway; faults are injected from
// outside (kill -9 at every journaled power step, Postgres cut by a TCP proxy the suite owns, Inventory restarted,
// the Vault stand-in down, device networks cut) and the suite asserts on what the devices received (amtsim's power
// request log) and on what Inventory reports. It prints one line:
//
//	chaos: faults=<list> hosts=<n> converged=<n> edges_repeated=0 stuck=0
//
// `go test ./test/chaos` (and `make test`) runs the reduced suite; CHAOS_FULL=1 (`make chaos`) runs it with longer
// outages, more devices, and the 1,000-host kill -9 during an ON change.
package chaos
