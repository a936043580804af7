-- Destination health: per tenant and destination (scheme://host:port), shared by every
-- worker. At most ACTIONS_HOST_CONCURRENCY attempts are in flight to one at a time. After
-- 10 consecutive failed attempts (network errors, timeouts, 5xx) the circuit opens:
-- attempts to it wait, without using up max_attempts, and one probe attempt goes through
-- every 30 s; an answer closes it.
CREATE TABLE destinations (
    tenant_id            text NOT NULL REFERENCES tenants (id),
    destination          text NOT NULL,
    state                text NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open')),
    consecutive_failures integer NOT NULL DEFAULT 0,
    in_flight            integer NOT NULL DEFAULT 0, -- attempts being made (ACTIONS_HOST_CONCURRENCY)
    opened_at            timestamptz,
    next_probe_at        timestamptz,  -- while open: when the next probe may go
    last_attempt_at      timestamptz NOT NULL,
    state_changed_at     timestamptz,  -- the last transition (opened or closed)
    PRIMARY KEY (tenant_id, destination)
);
CREATE INDEX destinations_recent ON destinations (tenant_id, last_attempt_at);

-- Each attempt names its destination, for the health figures of the last 5 minutes and to
-- recount the attempts in flight.
ALTER TABLE action_attempts ADD COLUMN destination text;
CREATE INDEX action_attempts_destination ON action_attempts (tenant_id, destination, completed_at)
    WHERE completed_at IS NOT NULL;
CREATE INDEX action_attempts_in_flight ON action_attempts (tenant_id, destination)
    WHERE completed_at IS NULL;
