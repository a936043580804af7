-- Issue 22: per-tenant retention (domain.Retention: overrides of the defaults, in days, by
-- kind) and how far the retention job has gone through each kind that it changes rather
-- than deletes (attempt logs and response bodies of actions, whose rows stay), so that a
-- pass reads only what became due since the last one.
ALTER TABLE tenants ADD COLUMN retention jsonb NOT NULL DEFAULT '{}';
CREATE TABLE retention_marks (
    tenant_id  text NOT NULL REFERENCES tenants (id),
    kind       text NOT NULL,
    done_until timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, kind)
);
