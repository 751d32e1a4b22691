// Package conformance proves that our WS-Man client (dmtclient/wsman, dmtclient/amt) and the strict AMT simulator
// (test/amtsim), written independently from protocol-cira-wsman.md and protocol-rps-activation.md, interoperate
// over real TCP on loopback. It holds tests and a benchmark only.
//
// Each test starts a simulated device with two listeners: the network side (what CIRA and MPS reach, where only
// the admin account authenticates once the device is provisioned) and the host side (LMS on 127.0.0.1, the only
// place the local system account and host-based setup are accepted, as rpc-go relays them during activation).
// Listeners count connections, requests, authenticated requests and 401 answers, so the digest flow of
// protocol-cira-wsman §8.3 is asserted on the wire, not inferred from results.
package conformance
