-- The admin console (issue 13): its sign-in sessions, shared by every API process, and the
-- indexes its action-run filters read.

-- A session is found by the SHA-256 of its cookie token; the admin key it acts with is
-- sealed (AES-256-GCM) under a key derived from that token, so neither the token nor the
-- API key can be read from this table.
CREATE TABLE console_sessions (
    token_hash   bytea PRIMARY KEY,
    tenant_id    text NOT NULL,
    key_id       text NOT NULL,
    key_name     text NOT NULL,
    key_prefix   text NOT NULL,
    scopes       text[] NOT NULL,
    sealed_key   bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL
);
CREATE INDEX console_sessions_key ON console_sessions (key_id, created_at DESC);
CREATE INDEX console_sessions_idle ON console_sessions (last_seen_at);

-- GET /api/v1/admin/actions, newest first, filtered by status or by automation.
CREATE INDEX actions_tenant_status ON actions (tenant_id, status, created_at DESC, id DESC);
CREATE INDEX actions_tenant_requester ON actions (tenant_id, requested_by, created_at DESC, id DESC);
