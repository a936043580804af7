DROP TABLE ticket_slas;
DROP TABLE sla_policies;
DROP FUNCTION sla_policies_stop_clocks();
DELETE FROM ticket_timers WHERE kind = 'sla';
