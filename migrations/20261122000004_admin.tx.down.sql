DROP TABLE audit_events;
DROP INDEX api_keys_list;
ALTER TABLE tenants
    DROP COLUMN default_action_timeout_ms, DROP COLUMN default_action_max_attempts,
    DROP COLUMN rate_limit_key_rps, DROP COLUMN rate_limit_tenant_rps,
    DROP COLUMN signing_secret_rotated_at, DROP COLUMN previous_signing_secret_sealed,
    DROP COLUMN previous_signing_secret_expires_at, DROP COLUMN updated_at;
ALTER TABLE api_keys
    DROP COLUMN expires_at, DROP COLUMN last_used_at, DROP COLUMN rotated_at,
    DROP COLUMN previous_secret_hash, DROP COLUMN previous_expires_at;
