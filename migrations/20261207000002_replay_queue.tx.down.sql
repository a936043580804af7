DROP INDEX actions_replay_unfinished;
ALTER TABLE actions DROP COLUMN replay_batch_id;
DROP INDEX action_replay_batches_queued;
DROP INDEX action_replay_batches_one_running;
-- Without the queue every batch runs at once, as before; their workflows are still polling.
UPDATE action_replay_batches SET status = 'running', updated_at = now() WHERE status = 'queued';
ALTER TABLE action_replay_batches DROP CONSTRAINT action_replay_batches_status_check;
ALTER TABLE action_replay_batches ADD CONSTRAINT action_replay_batches_status_check
    CHECK (status IN ('running', 'succeeded', 'canceled', 'failed'));
