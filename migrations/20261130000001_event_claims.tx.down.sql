DROP INDEX ticket_events_ticket_pending;
DROP INDEX ticket_events_pending;
CREATE INDEX ticket_events_pending ON ticket_events (occurred_at, id) WHERE processed_at IS NULL;
ALTER TABLE ticket_events DROP COLUMN dead, DROP COLUMN claimed_until;
ALTER TABLE automations DROP COLUMN disabled_reason, DROP COLUMN budget_failures;
