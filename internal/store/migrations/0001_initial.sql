-- dm-manager schema, version 1. Applied in one transaction by the store's migration runner.
-- Never edit this file once released: add a new numbered file instead (the runner checks checksums).

-- One row per Inventory tenant dm-manager has bootstrapped: its CIRA config.
CREATE TABLE tenants (
    tenant_id              uuid        PRIMARY KEY,
    cira_server_address    text        NOT NULL DEFAULT '',  -- host:port AMT dials (EMF orchMPSHost)
    cira_root_cert_der_b64 text        NOT NULL DEFAULT '',  -- gateway root CA AMT trusts, DER base64
    password_policy        text        NOT NULL DEFAULT 'static'
                                       CONSTRAINT tenants_password_policy_check
                                       CHECK (password_policy IN ('static', 'dynamic')),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

-- Activation profiles (<tenant>_ccm, <tenant>_acm) named in the rpc-go command string.
CREATE TABLE profiles (
    tenant_id    uuid        NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    name         text        NOT NULL,
    activation   text        NOT NULL CONSTRAINT profiles_activation_check CHECK (activation IN ('ccm', 'acm')),
    cira_config  text        NOT NULL DEFAULT '',
    user_consent text        NOT NULL DEFAULT 'all'
                             CONSTRAINT profiles_user_consent_check CHECK (user_consent IN ('none', 'kvm', 'all')),
    tags         text[]      NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT profiles_pkey PRIMARY KEY (tenant_id, name)
);

-- Domain provisioning certificates: metadata only; the PFX and its password are secrets.
CREATE TABLE domains (
    tenant_id     uuid        NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    profile_name  text        NOT NULL,
    domain_suffix text        NOT NULL,
    expires_at    timestamptz NOT NULL,
    leaf_sha256   text        NOT NULL,  -- hex of the leaf certificate's DER
    root_sha256   text        NOT NULL,  -- hex of the root certificate's DER (what AMT's hash table holds)
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT domains_pkey PRIMARY KEY (tenant_id, profile_name)
);
CREATE UNIQUE INDEX domains_tenant_suffix_key ON domains (tenant_id, lower(domain_suffix));

-- Devices: identity, provisioning state, CIRA presence and the replica holding the session.
CREATE TABLE devices (
    guid             uuid        NOT NULL,
    tenant_id        uuid        NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    host_resource_id text        NOT NULL DEFAULT '',
    cira_username    text,                 -- NULL until CIRA credentials are generated
    control_mode     smallint    NOT NULL DEFAULT 0
                                 CONSTRAINT devices_control_mode_check CHECK (control_mode BETWEEN 0 AND 2),
    activation_state text        NOT NULL DEFAULT 'unprovisioned'
                                 CONSTRAINT devices_activation_state_check
                                 CHECK (activation_state IN ('unprovisioned', 'activating', 'activated', 'deactivating')),
    dns_suffix       text        NOT NULL DEFAULT '',
    amt_version      text        NOT NULL DEFAULT '',
    amt_build        text        NOT NULL DEFAULT '',
    amt_sku          text        NOT NULL DEFAULT '',
    connection_state text        NOT NULL DEFAULT 'never'
                                 CONSTRAINT devices_connection_state_check
                                 CHECK (connection_state IN ('never', 'connected', 'disconnected')),
    owner_replica    text        NOT NULL DEFAULT '',
    owner_address    text        NOT NULL DEFAULT '',
    remote_address   text        NOT NULL DEFAULT '',
    last_seen_at     timestamptz,
    connected_at     timestamptz,
    disconnected_at  timestamptz,
    facts            jsonb       NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT devices_pkey PRIMARY KEY (guid),
    CONSTRAINT devices_cira_username_key UNIQUE (cira_username)
);
CREATE INDEX devices_tenant_idx ON devices (tenant_id);
CREATE INDEX devices_owner_idx ON devices (owner_replica) WHERE connection_state = 'connected';

-- Operations in flight, so a restart neither repeats a hard power action nor forgets one.
CREATE TABLE journal (
    tenant_id        uuid        NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    guid             uuid        NOT NULL,
    kind             text        NOT NULL
                                 CONSTRAINT journal_kind_check CHECK (kind IN ('power', 'activation', 'deactivation')),
    sequence         jsonb       NOT NULL DEFAULT '[]',  -- the planned steps
    step             text        NOT NULL DEFAULT '',    -- the step in progress
    desired          integer     NOT NULL DEFAULT 0,     -- Inventory enum value being made true
    policy           integer     NOT NULL DEFAULT 0,     -- power_command_policy at the start
    step_started_at  timestamptz,
    deadline_at      timestamptz,                        -- when the step must be looked at again
    hard_action_sent boolean     NOT NULL DEFAULT false,
    attempts         integer     NOT NULL DEFAULT 0,
    last_error       text        NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT journal_pkey PRIMARY KEY (guid, kind)
);
CREATE INDEX journal_deadline_idx ON journal (deadline_at) WHERE deadline_at IS NOT NULL;
CREATE INDEX journal_tenant_idx ON journal (tenant_id);
