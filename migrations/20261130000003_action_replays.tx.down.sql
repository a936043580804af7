ALTER TABLE actions DROP COLUMN replay_of;
