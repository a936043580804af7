-- Tenants, their API keys, tickets and messages, and stored idempotent responses.

CREATE TABLE tenants (
    id               text PRIMARY KEY,
    name             text NOT NULL,
    actions_base_url text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id          text PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants (id),
    name        text NOT NULL,
    prefix      text NOT NULL,
    secret_hash bytea NOT NULL,
    scopes      text[] NOT NULL,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);

CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id);

CREATE TABLE tickets (
    id              text PRIMARY KEY,
    tenant_id       text NOT NULL REFERENCES tenants (id),
    subject         text NOT NULL,
    status          text NOT NULL CHECK (status IN ('open', 'pending', 'on_hold', 'solved', 'closed')),
    priority        text NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    channel         text NOT NULL CHECK (channel IN ('email', 'chat', 'sms', 'whatsapp', 'voice', 'web', 'api', 'social')),
    tags            text[] NOT NULL DEFAULT '{}',
    contact_name    text,
    contact_email   text,
    contact_phone   text,
    message_count   integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    last_message_at timestamptz NOT NULL,
    UNIQUE (tenant_id, id)
);

-- The listing order, so that keyset pagination is an index range scan at any depth.
CREATE INDEX tickets_activity ON tickets (tenant_id, last_message_at DESC, id DESC);
CREATE INDEX tickets_status_activity ON tickets (tenant_id, status, last_message_at DESC, id DESC);
CREATE INDEX tickets_tags ON tickets USING gin (tags);

CREATE TABLE messages (
    id                  text PRIMARY KEY,
    tenant_id           text NOT NULL,
    ticket_id           text NOT NULL,
    role                text NOT NULL CHECK (role IN ('user', 'agent', 'system', 'note')),
    content             text NOT NULL,
    channel             text NOT NULL CHECK (channel IN ('email', 'chat', 'sms', 'whatsapp', 'voice', 'web', 'api', 'social')),
    external_message_id text,
    created_at          timestamptz NOT NULL,
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets (tenant_id, id),
    -- NULLs are distinct, so only messages that carry an external id are deduplicated.
    UNIQUE (ticket_id, external_message_id)
);

CREATE INDEX messages_ticket_order ON messages (ticket_id, created_at, id);

-- Responses to POST requests sent with an Idempotency-Key, replayed for 24 hours.
CREATE TABLE idempotency_keys (
    tenant_id       text NOT NULL,
    key_id          text NOT NULL,
    idempotency_key text NOT NULL,
    fingerprint     bytea NOT NULL,
    request_id      text NOT NULL,
    status_code     integer NOT NULL,
    response_body   bytea NOT NULL,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, key_id, idempotency_key)
);

CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
