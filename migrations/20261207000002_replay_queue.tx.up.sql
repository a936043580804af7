-- Issue 18: one tenant's bulk replays no longer crowd out other tenants' actions. At most
-- one runs per tenant; the others wait, queued, and start oldest first. PostgreSQL, not
-- a process's memory, holds the bound, so it holds across API and worker processes.
ALTER TABLE action_replay_batches DROP CONSTRAINT action_replay_batches_status_check;
ALTER TABLE action_replay_batches ADD CONSTRAINT action_replay_batches_status_check
    CHECK (status IN ('queued', 'running', 'succeeded', 'canceled', 'failed'));

-- Older data may have several running per tenant: all but each tenant's oldest wait.
UPDATE action_replay_batches b SET status = 'queued', updated_at = now()
WHERE b.status = 'running' AND EXISTS (
    SELECT 1 FROM action_replay_batches o
    WHERE o.tenant_id = b.tenant_id AND o.status = 'running' AND (o.created_at, o.id) < (b.created_at, b.id));

CREATE UNIQUE INDEX action_replay_batches_one_running ON action_replay_batches (tenant_id) WHERE status = 'running';
-- A tenant's waiting batches, oldest first: who is next, and how many wait.
CREATE INDEX action_replay_batches_queued ON action_replay_batches (tenant_id, created_at, id) WHERE status = 'queued';

-- The batch that created a replay, so a step counts its unfinished replays through a
-- small index (at most the window's worth of rows) before creating more. Replays made
-- before this column are not counted; single replays (POST /actions/{id}/replay) have none.
ALTER TABLE actions ADD COLUMN replay_batch_id text REFERENCES action_replay_batches (id);
CREATE INDEX actions_replay_unfinished ON actions (replay_batch_id)
    WHERE replay_batch_id IS NOT NULL AND status IN ('queued', 'running', 'retrying');
