-- Issue 22: deleting an action (a ticket's deletion, retention, offboarding) checks that no
-- replay names it as its original, and deleting a bulk replay that no action names it:
-- without an index on the referencing column each check read every action, 20 s per batch
-- of 200 tickets at 10^6. Only replays have these columns set, so the indexes are small.
CREATE INDEX actions_replay_of ON actions (replay_of) WHERE replay_of IS NOT NULL;
CREATE INDEX actions_replay_batch ON actions (replay_batch_id) WHERE replay_batch_id IS NOT NULL;
