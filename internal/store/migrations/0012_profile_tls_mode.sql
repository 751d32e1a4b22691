-- AMT's own TLS configuration a tenant asks for per profile (REST PATCH /amt/admin/profiles, protocol-rps-activation
-- §2.10): RPS's tlsMode, limited to the modes that keep non-TLS connections, because the CIRA gateway reaches AMT's
-- WS-Man on port 16992: 2 server authentication, 4 mutual authentication; 0 none (the default: AMT keeps its own
-- certificate). The tenant reconciler's upsert leaves the column alone.
ALTER TABLE profiles
    ADD COLUMN tls_mode smallint NOT NULL DEFAULT 0 CHECK (tls_mode IN (0, 2, 4));
