// Package e2e runs dm-manager whole, in process, against the real Inventory server (test/invtest), a throwaway
// Postgres database, embedded secrets and simulated AMT devices (test/amtsim) that reach it over real TCP, TLS
// and websockets on loopback: provisioned devices keeping CIRA tunnels to the gateway, and fresh devices that
// the node agent's rpc client activates through the activation websocket.
//
// The tests drive dm-manager only through its public surfaces (Inventory intent, the southbound gRPC with real
// HS256 tokens, the REST API, the activation websocket) and assert on what Inventory reports and on what the
// devices went through (their state and audit logs). BenchmarkPowerFleet measures a 1,000-device power change.
//
// Run: `go test -race ./test/e2e` (needs opa, atlas and Postgres as for every invtest package; `make test` sets
// them up). E2E_LOG=debug|info|warn sets dm-manager's log level in the test output (default: error).
package e2e
