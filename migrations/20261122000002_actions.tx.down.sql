DROP TABLE actions;
ALTER TABLE tenants DROP COLUMN allowed_hosts, DROP COLUMN signing_secret_sealed;
