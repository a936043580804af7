DROP TABLE retention_marks;
ALTER TABLE tenants DROP COLUMN retention;
