CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id);
CREATE INDEX ticket_events_ticket_pending ON ticket_events (ticket_id, occurred_at, id) WHERE processed_at IS NULL;
DROP INDEX ticket_events_ticket_state;
