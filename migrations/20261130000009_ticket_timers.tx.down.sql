DROP TRIGGER automations_disarm ON automations;
DROP FUNCTION ticket_timers_disarm();
DROP TABLE ticket_timers;
DROP SEQUENCE ticket_timers_generation;
DELETE FROM ticket_events WHERE type NOT IN ('ticket.created', 'ticket.updated', 'message.created');
ALTER TABLE ticket_events DROP CONSTRAINT ticket_events_type_check;
ALTER TABLE ticket_events ADD CONSTRAINT ticket_events_type_check
    CHECK (type IN ('ticket.created', 'ticket.updated', 'message.created'));
ALTER TABLE automations DROP COLUMN rearm, DROP COLUMN delay_seconds;
