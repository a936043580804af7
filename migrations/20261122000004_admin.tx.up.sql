-- Admin API: key lifecycle (expiry, rotation with a grace period, last use), tenant
-- settings (action defaults, rate limits, signing secret rotation) and the audit log.

ALTER TABLE api_keys
    ADD COLUMN expires_at           timestamptz,
    ADD COLUMN last_used_at         timestamptz,
    ADD COLUMN rotated_at           timestamptz,
    -- After a rotation the old secret's hash keeps working until previous_expires_at.
    ADD COLUMN previous_secret_hash bytea,
    ADD COLUMN previous_expires_at  timestamptz;

ALTER TABLE tenants
    ADD COLUMN default_action_timeout_ms     integer,
    ADD COLUMN default_action_max_attempts   integer,
    ADD COLUMN rate_limit_key_rps            integer,
    ADD COLUMN rate_limit_tenant_rps         integer,
    ADD COLUMN signing_secret_rotated_at     timestamptz,
    -- During a signing secret's overlap window calls carry both signatures.
    ADD COLUMN previous_signing_secret_sealed bytea,
    ADD COLUMN previous_signing_secret_expires_at timestamptz,
    ADD COLUMN updated_at                    timestamptz;

CREATE TABLE audit_events (
    id          text PRIMARY KEY,
    tenant_id   text NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    target      text NOT NULL DEFAULT '',
    request_id  text NOT NULL DEFAULT '',
    client_ip   text NOT NULL DEFAULT '',
    before      jsonb,
    after       jsonb,
    occurred_at timestamptz NOT NULL
);

CREATE INDEX audit_events_list ON audit_events (tenant_id, occurred_at DESC, id DESC);
CREATE INDEX api_keys_list ON api_keys (tenant_id, created_at DESC, id DESC);
