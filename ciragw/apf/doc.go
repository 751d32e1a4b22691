// Package apf is the APF (AMT Port Forwarding) codec of CIRA
// (protocol-cira-wsman §2): one Go type per message kind, each with one
// encoder (AppendTo) and one decoder, an incremental Decoder that tells an
// incomplete message (ErrNeedMore) from a malformed one (*MalformedError)
// and checks every length against the limits before allocating, a stream
// Reader over it, and the mixed-endian GUID conversion of §2.5. It does no
// I/O of its own and knows nothing of sessions; the gateway (ciragw) and the
// simulated device (test/amtsim/apfclient) both build on it.
package apf
