-- Issue 22: a ticket can be deleted (DELETE /tickets/{id}), and with it every row that holds
-- its content. Its events and its rules' runs are found by ticket: without these indexes
-- each deletion read the whole outbox history and run log.
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id);
CREATE INDEX automation_runs_ticket ON automation_runs (ticket_id);

-- The purge of processed events reads the primary key instead (event ids begin with their
-- time: store.DeleteProcessedEvents), so this index, written with every event the outbox
-- processes, goes: the outbox maintains as many indexes as before the one above.
DROP INDEX ticket_events_processed;
