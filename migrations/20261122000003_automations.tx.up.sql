-- Rule-based automations: the rules, the ticket events they run on (an outbox written in
-- the same transaction as each ticket change) and the record of every evaluation.

CREATE TABLE automations (
    id         text PRIMARY KEY,
    tenant_id  text NOT NULL REFERENCES tenants (id),
    name       text NOT NULL,
    enabled    boolean NOT NULL,
    events     text[] NOT NULL,
    condition  text NOT NULL,
    actions    jsonb NOT NULL,
    position   integer NOT NULL,
    version    integer NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE INDEX automations_order ON automations (tenant_id, position, id);

CREATE TABLE ticket_events (
    id           text PRIMARY KEY,
    tenant_id    text NOT NULL,
    ticket_id    text NOT NULL,
    type         text NOT NULL CHECK (type IN ('ticket.created', 'ticket.updated', 'message.created')),
    actor        text NOT NULL,
    depth        integer NOT NULL,
    chain        text[] NOT NULL DEFAULT '{}',
    caused_by    text,
    payload      jsonb NOT NULL, -- the ticket after and before, the changes, the message
    occurred_at  timestamptz NOT NULL,
    processed_at timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text
);

-- The consumer's queue: only events not yet processed, oldest first.
CREATE INDEX ticket_events_pending ON ticket_events (occurred_at, id) WHERE processed_at IS NULL;
CREATE INDEX ticket_events_processed ON ticket_events (processed_at) WHERE processed_at IS NOT NULL;

CREATE TABLE automation_runs (
    id                 text PRIMARY KEY,
    tenant_id          text NOT NULL,
    automation_id      text NOT NULL,
    automation_version integer NOT NULL,
    event_id           text NOT NULL,
    event_type         text NOT NULL,
    ticket_id          text NOT NULL,
    matched            boolean NOT NULL,
    skipped            text,
    actions            jsonb NOT NULL DEFAULT '[]',
    error              text,
    evaluated_at       timestamptz NOT NULL,
    UNIQUE (automation_id, event_id)
);

CREATE INDEX automation_runs_list ON automation_runs (automation_id, evaluated_at DESC, id DESC);
