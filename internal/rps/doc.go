// Package rps is dm-manager's activation engine: the server side of the rpc-go websocket protocol
// (protocol-rps-activation.md). rpc-go, run by the node agent, connects, names an operation in its first message
// (activate, deactivate, maintenance) and then relays every WS-Man request we send to AMT on the host; we drive
// AMT through that relay with dmtclient/wsman and dmtclient/amt.
//
// Layers, each testable alone:
//   - message.go is the codec: envelopes, the activation payload, the command string, the protocol version rule
//     and the payload checks with the reference error texts (§1.2–§1.5, §4.1);
//   - session.go is one websocket: a reader goroutine enforcing the frame limit, the relay (exactly one
//     outstanding `wsman` request, §1.6), keep-alive pings, deadlines and the terminal message, which is always
//     sent unless the peer is gone;
//   - authorize.go decides who may do what (tenant, Inventory host, device owner, stored password);
//   - tunnel.go and tlstunnel.go are the TLS tunnel of AMT 19+ devices (§1.9): a net.Conn over `tls_data` and
//     `connection_reset` messages, the TLS client on it with AMT's certificate pinned, and `port_switch`;
//   - wait.go is every wait longer than a heartbeat interval, with `heartbeat_request` messages (§1.8);
//   - activate.go, amt19.go, acm.go, configure.go, cira.go, deactivate.go and maintenance.go are the flows
//     (§2.3–§2.13; amt19.go is §2.11, configure.go the network and features of §2.7–§2.8);
//   - engine.go ties them to the store, the secrets, Inventory and the outcome sink.
//
// Where the reference server misbehaves we do not copy it: every failure ends with an `error` message (RPS
// sometimes sends nothing, §1.7), the password comes from the payload rather than the space-split command
// string (§1.4), `heartbeat_response` is ignored instead of ending the session (§1.3), a device is activated only
// when Inventory wants it provisioned in the tenant that asks, and secrets are written before AMT is changed so
// a dropped websocket leaves nothing we cannot recover on the next run (§4.4).
package rps
