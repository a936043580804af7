-- Running SLA clocks without a due date: before issue 19's fix, those whose business
-- calendar the day walk could not compute. The worker gives them one at start and then
-- hourly (automations.Engine.RepairClocks); the index stays empty once they are repaired,
-- so that check costs nothing.
CREATE INDEX ticket_slas_undated ON ticket_slas (tenant_id, running_since) WHERE running_since IS NOT NULL AND due_at IS NULL;
