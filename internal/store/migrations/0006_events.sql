-- Audit trail of the events dm-manager publishes (internal/events): kept for -eventRetention, then pruned.
-- No foreign keys: the trail of a deleted tenant or device stays readable until it ages out. payload is the
-- event exactly as published on MQTT (internal/api/asyncapi.yaml, schema Event).
CREATE TABLE events (
	id        uuid PRIMARY KEY,
	tenant_id text NOT NULL,
	guid      text NOT NULL DEFAULT '',
	kind      text NOT NULL,
	at        timestamptz NOT NULL,
	payload   jsonb NOT NULL
);

-- Reads are per tenant, optionally per device, newest first; pruning is by age.
CREATE INDEX events_tenant_at ON events (tenant_id, at DESC, id);
CREATE INDEX events_tenant_guid_at ON events (tenant_id, guid, at DESC, id);
CREATE INDEX events_at ON events (at);
