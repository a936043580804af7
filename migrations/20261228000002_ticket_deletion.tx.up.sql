-- Issue 22: a ticket can be deleted (DELETE /tickets/{id}), and with it every row that holds
-- its content. Its events and its rules' runs are found by ticket: without these indexes
-- each deletion read the whole outbox history and run log.
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id);
CREATE INDEX automation_runs_ticket ON automation_runs (ticket_id);
