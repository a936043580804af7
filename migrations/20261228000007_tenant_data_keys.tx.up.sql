-- Issue 22: Temporal payloads (action requests and responses, timer and replay inputs) are
-- sealed with AES-256-GCM under a data key of their tenant (internal/sealing). Each key is
-- stored wrapped (sealed) by SECRETS_KEY with the tenant and key ids as associated data.
-- A tenant has one active key (new payloads) and may keep retired ones (to read older
-- histories): rotation retires the active key. Deleting a tenant's keys makes what is left
-- of its histories unreadable (crypto-shredding), which is why there is no foreign key to
-- tenants: offboarding removes the keys last, after the tenant's workflows have ended.
CREATE TABLE tenant_data_keys (
    id         text PRIMARY KEY,
    tenant_id  text NOT NULL,
    wrapped    bytea NOT NULL,
    created_at timestamptz NOT NULL,
    retired_at timestamptz
);
CREATE UNIQUE INDEX tenant_data_keys_active ON tenant_data_keys (tenant_id) WHERE retired_at IS NULL;
CREATE INDEX tenant_data_keys_tenant ON tenant_data_keys (tenant_id, created_at);
