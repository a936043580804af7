DROP TABLE idempotency_keys;
DROP TABLE messages;
DROP TABLE tickets;
DROP TABLE api_keys;
DROP TABLE tenants;
