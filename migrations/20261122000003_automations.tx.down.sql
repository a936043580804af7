DROP TABLE automation_runs;
DROP TABLE ticket_events;
DROP TABLE automations;
