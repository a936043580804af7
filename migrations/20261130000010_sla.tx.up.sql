-- SLA policies and the clocks they run on tickets. The automations engine keeps a
-- ticket's clocks up to date with each of its events; their warnings and breaches are
-- ticket timers (kind 'sla', see 20261130000009) that fire sla.warning and sla.breached
-- events into the outbox.
CREATE TABLE sla_policies (
    id              text PRIMARY KEY,
    tenant_id       text NOT NULL REFERENCES tenants (id),
    name            text NOT NULL,
    enabled         boolean NOT NULL,
    condition       text NOT NULL,
    position        integer NOT NULL,
    targets         jsonb NOT NULL,     -- priority -> {first_reply, resolution} in seconds
    warning_percent integer NOT NULL,
    calendar        jsonb,              -- business hours; null: around the clock
    version         integer NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

CREATE INDEX sla_policies_order ON sla_policies (tenant_id, position, id);

CREATE TABLE ticket_slas (
    ticket_id     text NOT NULL,
    metric        text NOT NULL CHECK (metric IN ('first_reply', 'resolution')),
    tenant_id     text NOT NULL,
    policy_id     text NOT NULL REFERENCES sla_policies (id) ON DELETE CASCADE,
    target_ms     bigint NOT NULL,
    elapsed_ms    bigint NOT NULL DEFAULT 0, -- business time counted before running_since
    running_since timestamptz,               -- null while paused or stopped
    due_at        timestamptz,
    warning_at    timestamptz,
    warned        boolean NOT NULL DEFAULT false,
    breached_at   timestamptz,
    achieved_at   timestamptz,
    PRIMARY KEY (ticket_id, metric)
);

CREATE INDEX ticket_slas_policy ON ticket_slas (policy_id);

-- A disabled or deleted policy stops its clocks and drops their timers, whichever path
-- does it.
CREATE FUNCTION sla_policies_stop_clocks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM ticket_timers WHERE id IN (SELECT 'sla:' || ticket_id || ':' || metric FROM ticket_slas WHERE policy_id = OLD.id);
    DELETE FROM ticket_slas WHERE policy_id = OLD.id;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER sla_policies_disabled AFTER UPDATE ON sla_policies FOR EACH ROW
    WHEN (OLD.enabled AND NOT NEW.enabled) EXECUTE FUNCTION sla_policies_stop_clocks();
CREATE TRIGGER sla_policies_deleted BEFORE DELETE ON sla_policies FOR EACH ROW
    EXECUTE FUNCTION sla_policies_stop_clocks();
