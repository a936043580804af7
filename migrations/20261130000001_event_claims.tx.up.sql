-- Bounded rules and a crash-proof, fair outbox.
--
-- automations: consecutive evaluations stopped by the rule budget, and why the worker
-- disabled the automation (null while it is enabled or an admin disabled it).
ALTER TABLE automations
    ADD COLUMN budget_failures integer NOT NULL DEFAULT 0,
    ADD COLUMN disabled_reason text;

-- ticket_events: a claim is committed (attempts + 1, claimed_until) before the event is
-- evaluated, so a worker that dies while evaluating still used up an attempt; an event
-- set aside after too many attempts is processed and dead.
ALTER TABLE ticket_events
    ADD COLUMN claimed_until timestamptz,
    ADD COLUMN dead boolean NOT NULL DEFAULT false;

-- The queue is taken tenant by tenant, each tenant's events oldest first, and only the
-- oldest pending event of a ticket is eligible (so a ticket's events run in order, one
-- at a time).
DROP INDEX ticket_events_pending;
CREATE INDEX ticket_events_pending ON ticket_events (tenant_id, occurred_at, id) WHERE processed_at IS NULL;
CREATE INDEX ticket_events_ticket_pending ON ticket_events (ticket_id, occurred_at, id) WHERE processed_at IS NULL;
