// Package wsman is a WS-Management client for Intel AMT: SOAP envelopes, HTTP/1.1 framing and RFC 2617 digest
// authentication, written for a single byte stream per exchange (a CIRA channel, the rpc-go websocket relay or plain
// TCP) instead of net/http's Transport; responses are read with net/http's own parser.
//
// Layers, each testable alone:
//   - envelope.go builds request envelopes exactly as protocol-cira-wsman §9.1; decode.go reads responses by local
//     name (prefixes differ between AMT versions, §9.2);
//   - httpwire.go writes one request; response.go reads one response with http.ReadResponse over a pooled
//     bufio.Reader (Content-Length, chunked split anywhere, close-delimited; §8.2), bounded and strict about bytes
//     past its end;
//   - written.go holds the one fact the power journal needs of a failed exchange, decided where the request is
//     written: NotWritten or PossiblyWritten (WrittenOf);
//   - digest.go parses challenges and computes authorizations (§8.3);
//   - client.go ties them together over a Dialer: keep-alive reuse, digest re-auth over a fresh connection, at most
//     three authenticated tries.
//
// # Transports
//
// A Dialer opens a fresh connection to port 16992 of one device. Over CIRA it opens an APF channel, over TCP it dials
// host:16992. The client writes every request with exactly one Write call and reads until the response is complete.
//
// # One-shot mode for the rpc-go relay (protocol-rps-activation §1.6)
//
// rpc-go relays one raw HTTP request per websocket message and answers with everything AMT sent back. To drive AMT
// that way, give the client RelayDialer(x) with an Exchanger that sends the request bytes as a `wsman` message and
// returns the payload of the next `response` message, and set Config.DisableKeepAlive so every request carries
// `Connection: close` (AMT then closes at once and rpc-go does not wait out its idle window). Each exchange gets its
// own connection; digest re-auth after a 401 simply becomes a second relayed exchange.
package wsman
