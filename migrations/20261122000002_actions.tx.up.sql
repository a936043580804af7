-- custom_http actions and the tenant settings they need.

ALTER TABLE tenants
    ADD COLUMN allowed_hosts text[] NOT NULL DEFAULT '{}',
    -- The webhook signing secret, sealed with SECRETS_KEY (AES-256-GCM, tenant id as AAD).
    ADD COLUMN signing_secret_sealed bytea;

CREATE TABLE actions (
    id              text PRIMARY KEY,
    tenant_id       text NOT NULL,
    ticket_id       text NOT NULL,
    action_type     text NOT NULL CHECK (action_type IN ('custom_http')),
    status          text NOT NULL CHECK (status IN ('queued', 'running', 'retrying', 'succeeded', 'failed', 'canceled', 'timed_out')),
    requested_by    text NOT NULL,
    payload         jsonb NOT NULL,   -- as submitted
    request         jsonb NOT NULL,   -- the resolved call: method, absolute url, headers, body, limits
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    last_error      text,
    response        jsonb,            -- the latest attempt's response
    -- False until the action's workflow is known to be started in Temporal; the worker's
    -- relay starts the ones the API could not (Temporal unreachable, crash).
    workflow_started boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    completed_at    timestamptz,
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets (tenant_id, id)
);

CREATE INDEX actions_ticket ON actions (ticket_id, created_at DESC, id DESC);
CREATE INDEX actions_unstarted ON actions (created_at) WHERE NOT workflow_started AND status = 'queued';
