-- Issue 22: erasure of a person (POST /admin/erasures). The worker searches the tenant's
-- tickets in batches (cursor) and replaces the person's email or phone number wherever it
-- is; pattern holds what it searches for while it runs and is cleared when it completes,
-- so the record then keeps only a hash of it. waiting_actions are actions that were still
-- running when the search passed them: what they record when they end is erased then.
CREATE TABLE erasures (
    id              text PRIMARY KEY,
    tenant_id       text NOT NULL REFERENCES tenants (id),
    subject_kind    text NOT NULL CHECK (subject_kind IN ('email', 'phone')),
    subject_hash    text NOT NULL,
    pattern         text,
    status          text NOT NULL CHECK (status IN ('running', 'waiting', 'completed')),
    cursor          text NOT NULL DEFAULT '',
    waiting_actions text[] NOT NULL DEFAULT '{}',
    counts          jsonb NOT NULL DEFAULT '{}',
    requested_by    text NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    completed_at    timestamptz,
    CHECK ((status = 'completed') = (pattern IS NULL))
);
CREATE INDEX erasures_tenant ON erasures (tenant_id, created_at DESC, id DESC);
CREATE INDEX erasures_open ON erasures (updated_at) WHERE status <> 'completed';
