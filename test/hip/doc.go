// Package hip holds the HIP (hardware-in-the-loop) scenarios: power (ON to OFF ordered, hung OS forced off after
// the soft timeout, IMMEDIATE off, RESET, POWER_CYCLE), AMT presence (network cut to DISCONNECTED and back) and
// deactivation. They are plain `go test` tests written against an Inventory address, credentials and a list of
// host UUIDs:
//
//   - with HIP_INVENTORY_ADDRESS, HIP_TENANT and HIP_HOST_UUIDS set (README "HIP rigs"), they drive a real EMF
//     deployment with real vPro machines;
//   - without them they bring up the local stack: the Inventory server in process (test/invtest), dm-manager in
//     process (internal/app), simulated AMT devices (test/amtsim) with simulated node agents (test/hip/agent).
//
// A scenario that cannot run where it is (a hung OS cannot be ordered on real hardware; a network cut needs the
// simulator's control) says so with t.Skip and the reason.
package hip
