// Package events tells the outside world what dm-manager did to a device or a tenant: CIRA sessions, power
// actions, activations, deactivations, domain certificates. Producers hand an Event to a Sink; Emit never blocks
// (a full buffer drops the event and counts it), so a slow or absent MQTT broker or database never holds up the
// gateway, the reconcilers or activation.
//
// Sinks: Discard (events off), the MQTT Publisher (topics <prefix>/<tenant>/<guid>/<kind>, QoS 1, JSON payloads
// documented in internal/api/asyncapi.yaml) and the Recorder (the audit trail in Postgres, read through the REST
// API). Fanout hands every event to several sinks.
package events

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Version is the payload version: the "version" field of every payload. A change that removes or renames a
// field, or changes a field's meaning, increments it; a new optional field does not.
const Version = 1

// Kind names what happened; it is the last topic level and the "kind" field of the payload.
type Kind string

// The kinds dm-manager emits. A tenant-level kind (IsTenantLevel) has no GUID and is published under
// <prefix>/<tenant>/domains/<kind>.
const (
	CIRAConnected    Kind = "cira_connected"    // the device's CIRA session is established on this replica
	CIRADisconnected Kind = "cira_disconnected" // the device's CIRA session ended (Message: why)

	PowerRequested Kind = "power_requested" // a power action is being sent to AMT (Desired, AMTValue, Action)
	PowerDone      Kind = "power_done"      // AMT accepted the action (Outcome "ok", Duration: the request)
	PowerFailed    Kind = "power_failed"    // AMT refused, the outcome is unknown, or the reconciler gave up (Message)

	ActivationStarted   Kind = "activation_started"   // rpc-go started an activation (Mode may be empty yet)
	ActivationSucceeded Kind = "activation_succeeded" // AMT is activated (Mode, Duration, Message)
	ActivationFailed    Kind = "activation_failed"    // the activation failed (Outcome, Duration, Message)

	DeactivationStarted Kind = "deactivation_started" // rpc-go or the host reconciler started a deactivation
	Deactivated         Kind = "deactivated"          // AMT is unprovisioned (Duration)
	DeactivationFailed  Kind = "deactivation_failed"  // the deactivation failed (Outcome, Message)

	DomainAdded   Kind = "domain_added"   // a domain provisioning certificate was stored (Domain: its suffix)
	DomainRemoved Kind = "domain_removed" // a domain provisioning certificate was deleted (Domain)
)

// DomainsLevel is the topic level of tenant-level events, in place of a GUID.
const DomainsLevel = "domains"

// Outcomes of the Outcome field.
const (
	OutcomeOK      = "ok"
	OutcomeError   = "error"    // the device or AMT refused or failed
	OutcomeNotSent = "not_sent" // the request provably never reached AMT (no session here); it will be retried
	OutcomeUnknown = "unknown"  // the request may have reached AMT (session lost after the write)
	OutcomeAborted = "aborted"  // the peer went away before the end
)

// Event is one thing that happened. Only Kind and Tenant are required; GUID is required for device kinds. The
// other fields are optional and say what the kind's comment lists. No field may ever carry a secret: producers
// pass texts meant for users (status texts, error messages without credentials).
type Event struct {
	Kind   Kind
	Tenant string
	GUID   string    // device GUID, lower case; empty for tenant-level kinds
	At     time.Time // when it happened; zero means when emitted

	Desired  string        // power: the Inventory desired state (e.g. POWER_STATE_OFF)
	AMTValue int           // power: the CIM PowerState sent to AMT (2 on, 8 off, 10 reset, 12 graceful off, ...)
	Action   string        // power: "soft" (graceful, through the OS) or "hard"
	Mode     string        // activation: "ccm" or "acm"
	Outcome  string        // Outcome* constants
	Duration time.Duration // how long the action took
	Message  string        // a user-readable text
	Domain   string        // domains: the DNS suffix
	Source   string        // who did it: "reconciler", "activation", "api", "gateway"
}

// TenantLevel tells the kinds that concern a tenant rather than one device.
func (k Kind) TenantLevel() bool { return k == DomainAdded || k == DomainRemoved }

// kindRE keeps a kind one clean topic level: no wildcard, separator or upper case.
var kindRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// tenantRE and guidRE keep topic levels free of MQTT wildcards and separators. Tenants are UUIDs in EMF, but
// any id without '/', '+', '#' or control characters is accepted.
var levelRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

// Validate checks what a topic is built from, so a bad producer value never becomes a wildcard or extra level.
func (e Event) Validate() error {
	if !kindRE.MatchString(string(e.Kind)) {
		return fmt.Errorf("events: kind %q is not a lower-case identifier", e.Kind)
	}
	if !levelRE.MatchString(e.Tenant) {
		return fmt.Errorf("events: %s: tenant %q is empty or holds characters not allowed in a topic level", e.Kind, e.Tenant)
	}
	if e.Kind.TenantLevel() {
		return nil
	}
	if !levelRE.MatchString(e.GUID) || e.GUID == DomainsLevel {
		return fmt.Errorf("events: %s: device GUID %q is empty or not a valid topic level", e.Kind, e.GUID)
	}
	return nil
}

// Topic is where the event is published: <prefix>/<tenant>/<guid>/<kind>, or <prefix>/<tenant>/domains/<kind>.
func (e Event) Topic(prefix string) string {
	mid := strings.ToLower(e.GUID)
	if e.Kind.TenantLevel() {
		mid = DomainsLevel
	}
	return prefix + "/" + e.Tenant + "/" + mid + "/" + string(e.Kind)
}

// Payload is the JSON body of a message (internal/api/asyncapi.yaml, schema Event).
type Payload struct {
	Version    int    `json:"version"`
	ID         string `json:"id,omitempty"`
	Kind       Kind   `json:"kind"`
	Tenant     string `json:"tenant"`
	GUID       string `json:"guid,omitempty"`
	At         string `json:"at"`
	Desired    string `json:"desired,omitempty"`
	AMTValue   int    `json:"amtValue,omitempty"`
	Action     string `json:"action,omitempty"`
	Mode       string `json:"mode,omitempty"`
	Outcome    string `json:"outcome,omitempty"`
	DurationMs int64  `json:"durationMs,omitempty"`
	Message    string `json:"message,omitempty"`
	Domain     string `json:"domain,omitempty"`
	Source     string `json:"source,omitempty"`
	Replica    string `json:"replica,omitempty"`
}

// PayloadOf builds the payload of e; id (unique per event) and replica are optional.
func PayloadOf(e Event, id, replica string) Payload {
	return Payload{
		Version: Version, ID: id, Kind: e.Kind, Tenant: e.Tenant, GUID: strings.ToLower(e.GUID),
		At: e.At.UTC().Format(time.RFC3339Nano), Desired: e.Desired, AMTValue: e.AMTValue, Action: e.Action,
		Mode: e.Mode, Outcome: e.Outcome, DurationMs: e.Duration.Milliseconds(), Message: e.Message,
		Domain: e.Domain, Source: e.Source, Replica: replica,
	}
}

// JSON encodes p; it cannot fail for this type.
func (p Payload) JSON() []byte {
	b, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("events: encoding a payload: %v", err)) // only strings and numbers: unreachable
	}
	return b
}

// ParsePayload decodes a message body, for subscribers and tests; it refuses unknown versions.
func ParsePayload(b []byte) (Payload, error) {
	var p Payload
	if err := json.Unmarshal(b, &p); err != nil {
		return Payload{}, fmt.Errorf("events: payload is not JSON of the Event schema: %w", err)
	}
	if p.Version != Version {
		return Payload{}, fmt.Errorf("events: payload version %d, this reader knows %d", p.Version, Version)
	}
	if p.Kind == "" || p.Tenant == "" {
		return Payload{}, fmt.Errorf("events: payload without kind or tenant")
	}
	return p, nil
}
