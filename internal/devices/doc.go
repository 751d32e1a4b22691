// Package devices is how the rest of dm-manager reaches a device: it checks CIRA logins against the store and
// secrets (Authenticator), records the gateway's presence reports (PresenceWriter), keeps the gateway CA in the
// secrets store (CAStore), hands out WS-Man clients that talk to AMT through the CIRA tunnel (AMTClients), and
// brings in devices activated elsewhere (Importer).
//
// The gateway (ciragw) knows nothing of databases or secrets; cmd wires the types here into it. No secret ever
// appears in a log line, an error or a report.
package devices
