-- Live work of the last seconds (a client's or an automation's action not yet finished):
-- a bulk replay checks it every step to yield to other tenants.
CREATE INDEX actions_live ON actions (created_at) WHERE status IN ('queued', 'running') AND origin <> 'bulk_replay';
