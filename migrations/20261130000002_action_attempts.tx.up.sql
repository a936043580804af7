-- Every attempt of an action, the one in flight included: what ops and integrators read to
-- learn why a run that succeeded on its third attempt failed twice.
CREATE TABLE action_attempts (
    action_id       text NOT NULL REFERENCES actions (id) ON DELETE CASCADE,
    attempt         integer NOT NULL CHECK (attempt > 0),
    tenant_id       text NOT NULL,
    started_at      timestamptz NOT NULL,
    completed_at    timestamptz,             -- null while the attempt is in flight
    outcome         text CHECK (outcome IN ('succeeded', 'failed', 'timed_out', 'refused', 'canceled')),
    error           text,
    response        jsonb,                   -- status code, headers, body (capped), duration
    next_attempt_at timestamptz,             -- when the next attempt was due, if one was
    PRIMARY KEY (action_id, attempt)
);

-- A cancel says why beside the last attempt's error instead of overwriting it.
ALTER TABLE actions ADD COLUMN canceled_reason text;
