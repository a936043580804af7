DROP INDEX actions_replay_batch;
DROP INDEX actions_replay_of;
