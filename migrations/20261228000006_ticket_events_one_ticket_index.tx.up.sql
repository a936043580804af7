-- Issue 21: every event was written into two indexes led by its ticket, the claim's (pending
-- events only, to find an earlier pending event of the same ticket) and the deletion's (all
-- of them, added for issue 22). One index serves both: pending events have a null
-- processed_at, which sorts last within a ticket, so "this ticket's pending events before
-- this one" is still one contiguous range (processed_at IS NULL is an index condition), and
-- a ticket's deletion reads the ticket's whole prefix. An event insert now writes four
-- indexes instead of five; marking it processed writes the same three as before.
CREATE INDEX ticket_events_ticket_state ON ticket_events (ticket_id, processed_at, occurred_at, id);
DROP INDEX ticket_events_ticket_pending;
DROP INDEX ticket_events_ticket;
