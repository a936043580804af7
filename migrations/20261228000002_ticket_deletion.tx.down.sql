CREATE INDEX ticket_events_processed ON ticket_events (processed_at) WHERE processed_at IS NOT NULL;
DROP INDEX automation_runs_ticket;
DROP INDEX ticket_events_ticket;
