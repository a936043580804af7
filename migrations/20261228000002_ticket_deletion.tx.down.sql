DROP INDEX automation_runs_ticket;
DROP INDEX ticket_events_ticket;
