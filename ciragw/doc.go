// Package ciragw is dm-manager's CIRA gateway (the MPS job): AMT firmware
// dials it over TLS and speaks APF (protocol-cira-wsman §1–§7); the rest of
// dm-manager reaches AMT ports through OpenChannel.
//
// Layers, as in golang.org/x/crypto/ssh, each with a narrow seam:
//
//   - codec (ciragw/apf): bytes ⇄ typed messages, incremental, no I/O;
//   - transport (transport.go): whole messages over one connection (TLS to a
//     device, any net.Conn in tests), write lock and deadlines, the courtesy
//     DISCONNECT and half-close;
//   - session and handshake (session.go, handshake.go): one goroutine at a
//     time per connection reads and dispatches; the handshake of §3 is a
//     strict state table; keepalives are answered, silence ends the session
//     (IdleTimeout); between messages an established session whose channels
//     have been quiet for a second parks (park.go, poller_linux.go);
//   - mux (mux.go): the channel table of an established session — ids,
//     open/confirm/close, routing by id — over a link (the transport), so it
//     runs without TLS (mux_test.go drives it over net.Pipe);
//   - channel (channel.go): a net.Conn with a window on each side, waits on
//     sync.Cond, buffers bounded by the advertised window;
//   - gateway (gateway.go, presence.go): listener, registry (one session per
//     GUID, a reconnect replaces the old one), batched presence, events.
//
// Scale: an idle session holds no goroutine: it is parked in the gateway's
// poller (poller_linux.go), its socket in an epoll instance of the
// gateway's, which one goroutine waits on through the runtime's poller, and
// its idle deadline checked by that goroutine's sweep; what it holds is a
// 256-byte read buffer and the TLS connection state. A goroutine blocked in
// tls.Conn.Read would hold 8 KiB, as the stack the handshakes grew never
// shrinks under it, and every goroutine's stack is scanned at each garbage
// collection. One housekeeping goroutine flushes presence
// (PresenceFlushInterval) and, on its own slower SweepInterval, queues
// last-seen refreshes and reaps idle channels. ciragw knows nothing
// of databases or secrets: Authenticator, PresenceWriter and CAStore are
// implemented by the caller.
package ciragw
