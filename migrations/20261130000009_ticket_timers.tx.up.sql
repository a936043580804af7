-- Time-based rules on durable timers. An automation with a delay does not run on its
-- event: the event arms a timer for the ticket (a Temporal workflow per timer, see
-- workflows/timer.go), and when it fires an automation.delay_elapsed event enters the
-- outbox for that automation alone. ticket_timers holds what is armed: the listing reads
-- it, and a timer that fires does something only if its row, at its generation, is still
-- here. SLA clocks (kind 'sla') use the same timers.
ALTER TABLE automations
    ADD COLUMN delay_seconds integer CHECK (delay_seconds > 0),
    ADD COLUMN rearm boolean NOT NULL DEFAULT true;

ALTER TABLE ticket_events DROP CONSTRAINT ticket_events_type_check;
ALTER TABLE ticket_events ADD CONSTRAINT ticket_events_type_check
    CHECK (type IN ('ticket.created', 'ticket.updated', 'message.created', 'automation.delay_elapsed', 'sla.warning', 'sla.breached'));

-- Generations come from one sequence, so every (re)arm or disarm of a timer is newer than
-- all before it, across deletions: its workflow orders the signals it gets by it.
CREATE SEQUENCE ticket_timers_generation;

CREATE TABLE ticket_timers (
    id            text PRIMARY KEY, -- also its workflow's ID
    tenant_id     text NOT NULL,
    ticket_id     text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('delay', 'sla')),
    automation_id text REFERENCES automations (id) ON DELETE CASCADE, -- kind delay
    event_type    text,                                               -- kind delay: the type that armed it
    generation    bigint NOT NULL DEFAULT nextval('ticket_timers_generation'), -- new at every (re)arm
    due_at        timestamptz NOT NULL,
    armed_at      timestamptz NOT NULL,
    event_id      text,                                               -- the event that armed it
    event         jsonb NOT NULL,                                     -- what the firing event carries
    synced        boolean NOT NULL DEFAULT false                      -- Temporal holds this generation
);

CREATE INDEX ticket_timers_automation ON ticket_timers (automation_id, due_at, id) WHERE automation_id IS NOT NULL;
CREATE INDEX ticket_timers_ticket ON ticket_timers (ticket_id);
-- The relay's queue: timers whose (re)arm did not reach Temporal yet.
CREATE INDEX ticket_timers_unsynced ON ticket_timers (armed_at) WHERE NOT synced;

-- Disabling an automation, or taking its delay away, disarms its timers in the same
-- transaction, whichever path does it (an admin, the rule budget).
CREATE FUNCTION ticket_timers_disarm() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM ticket_timers WHERE automation_id = NEW.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER automations_disarm AFTER UPDATE ON automations FOR EACH ROW
    WHEN ((OLD.enabled AND NOT NEW.enabled) OR (OLD.delay_seconds IS NOT NULL AND NEW.delay_seconds IS NULL))
    EXECUTE FUNCTION ticket_timers_disarm();
