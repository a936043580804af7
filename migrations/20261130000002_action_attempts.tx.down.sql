ALTER TABLE actions DROP COLUMN canceled_reason;
DROP TABLE action_attempts;
