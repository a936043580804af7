ALTER TABLE ticket_events RESET (fillfactor);
