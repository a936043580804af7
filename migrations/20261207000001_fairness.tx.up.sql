-- Fair use of the shared Temporal engine (internal/fairness). A tenant's delivery weight is
-- its fairness weight against other tenants with work waiting; only the operator's CLI
-- sets it. An action's origin sets its priority class: the relay starts an action late
-- with the class it was created for, or CatchUp.
ALTER TABLE tenants ADD COLUMN delivery_weight double precision NOT NULL DEFAULT 1
    CHECK (delivery_weight >= 0.01 AND delivery_weight <= 100);

ALTER TABLE actions ADD COLUMN origin text NOT NULL DEFAULT 'api'
    CHECK (origin IN ('api', 'automation', 'bulk_replay'));
-- Only actions still to run need their class; finished ones keep the default.
UPDATE actions SET origin = 'automation'
WHERE status IN ('queued', 'running', 'retrying') AND requested_by LIKE 'automation:%';

-- The relays take tenants in turn: each tenant's oldest unstarted actions and unsynced
-- timers, found per tenant.
DROP INDEX actions_unstarted;
CREATE INDEX actions_unstarted ON actions (tenant_id, created_at) WHERE NOT workflow_started AND status = 'queued';
DROP INDEX ticket_timers_unsynced;
CREATE INDEX ticket_timers_unsynced ON ticket_timers (tenant_id, armed_at) WHERE NOT synced;

-- A tenant's armed delay timers are counted against domain.MaxArmedTimersByTenant.
CREATE INDEX ticket_timers_tenant_delay ON ticket_timers (tenant_id) WHERE kind = 'delay';
