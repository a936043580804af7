DROP INDEX actions_tenant_created;
DROP TABLE action_replay_batches;
