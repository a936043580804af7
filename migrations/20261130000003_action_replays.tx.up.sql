-- A replay is a new action with the payload of a finished one; replay_of names it. The
-- replay is sent with the original's webhook-id and Idempotency-Key (kept in its request),
-- so a receiver that processed the original can tell.
ALTER TABLE actions ADD COLUMN replay_of text REFERENCES actions (id);
