DROP INDEX ticket_timers_tenant_delay;
DROP INDEX ticket_timers_unsynced;
CREATE INDEX ticket_timers_unsynced ON ticket_timers (armed_at) WHERE NOT synced;
DROP INDEX actions_unstarted;
CREATE INDEX actions_unstarted ON actions (created_at) WHERE NOT workflow_started AND status = 'queued';
ALTER TABLE actions DROP COLUMN origin;
ALTER TABLE tenants DROP COLUMN delivery_weight;
