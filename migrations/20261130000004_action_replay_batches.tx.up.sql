-- Bulk replays: one Temporal workflow per batch replays the actions matching a filter at
-- a bounded rate; this row is its progress, read by the API.
CREATE TABLE action_replay_batches (
    id              text PRIMARY KEY,
    tenant_id       text NOT NULL REFERENCES tenants (id),
    filter          jsonb NOT NULL,
    rate_per_second integer NOT NULL CHECK (rate_per_second BETWEEN 1 AND 100),
    status          text NOT NULL CHECK (status IN ('running', 'succeeded', 'canceled', 'failed')),
    matched         integer NOT NULL,      -- matching actions when it started
    replayed        integer NOT NULL DEFAULT 0,
    skipped         integer NOT NULL DEFAULT 0, -- payloads the tenant's settings no longer allow
    cursor_at       timestamptz,            -- the last original replayed (created_at, id)
    cursor_id       text,
    requested_by    text NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    completed_at    timestamptz
);
CREATE INDEX action_replay_batches_tenant ON action_replay_batches (tenant_id, created_at DESC, id DESC);

-- A tenant's actions by time, for the replay filter's window.
CREATE INDEX actions_tenant_created ON actions (tenant_id, created_at, id);
