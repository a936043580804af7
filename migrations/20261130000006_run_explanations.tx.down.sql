ALTER TABLE automation_runs DROP COLUMN explanation;
