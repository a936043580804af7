-- Each run keeps why its condition held or not: the condition's top-level clauses, each
-- with its value and the values of the fields it read.
ALTER TABLE automation_runs ADD COLUMN explanation jsonb;
