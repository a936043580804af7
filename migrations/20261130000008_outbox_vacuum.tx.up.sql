-- The outbox is a queue: every event is updated twice (claimed, then processed), and each
-- update leaves a dead row version and index entries that claims scan past at the head of
-- the pending index until vacuum removes them. Leave room in each page so that a claim
-- (which changes no indexed column) is a HOT update with no new index entries, and vacuum
-- this table after every 0.5 % (at least 2,000) of its rows died, without the cost delay.
ALTER TABLE ticket_events SET (
    fillfactor = 80,
    autovacuum_vacuum_scale_factor = 0.005,
    autovacuum_vacuum_threshold = 2000,
    autovacuum_vacuum_cost_delay = 0
);
