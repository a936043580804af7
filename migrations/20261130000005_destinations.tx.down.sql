DROP INDEX action_attempts_in_flight;
DROP INDEX action_attempts_destination;
ALTER TABLE action_attempts DROP COLUMN destination;
DROP TABLE destinations;
