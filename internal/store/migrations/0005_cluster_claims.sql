-- Cluster-wide claims (issue 10 item 3).
--
-- leader_terms: one row per leadership (e.g. 'tenant'); epoch grows by one each time a replica takes the
-- leadership's advisory lock, and every leader write checks, in its own transaction, that the epoch is still the
-- one it was elected with, so a deposed leader's late write fails instead of undoing the new leader's.
CREATE TABLE leader_terms (
    name       text        PRIMARY KEY,
    epoch      bigint      NOT NULL CHECK (epoch > 0),
    holder     text        NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now()
);

-- activation_claims: at most one rpc-go session per device in the whole cluster. holder names the session
-- (replica id + session id); a lease whose expires_at has passed (its holder crashed) may be taken over.
-- No foreign key to devices: a device is claimed before it is recorded.
CREATE TABLE activation_claims (
    guid       uuid        PRIMARY KEY,
    holder     text        NOT NULL,
    replica    text        NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
