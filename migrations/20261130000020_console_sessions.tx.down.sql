DROP INDEX actions_tenant_requester;
DROP INDEX actions_tenant_status;
DROP TABLE console_sessions;
