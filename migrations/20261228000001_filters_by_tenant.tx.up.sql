-- Issue 22: every filter a list or a count reads by has an index that starts with the
-- tenant, so a page costs its rows at 10^7 tickets as at 10^4.

-- An action's destination host, kept as a column: the host filters (admin actions list,
-- console runs by host, bulk replay) read it from the request's JSON of every action of
-- the tenant before, 1 s for an absent host at 10^6 tickets. Generated from the stored URL
-- by the rule those filters used (lower case, without user info or port), so every writer
-- of actions sets it and none can set it differently. Adding it rewrites the table once.
ALTER TABLE actions ADD COLUMN host text
    GENERATED ALWAYS AS (lower(substring(request->>'URL' from '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?([^/?#:]+|\[[^]]*\])'))) STORED;
CREATE INDEX actions_tenant_host ON actions (tenant_id, host, created_at DESC, id DESC);

-- Backtests read a tenant's events of some types, newest first: one range of this index
-- per type, merged (store.RecentEvents). It replaces the (tenant_id, occurred_at) index,
-- whose only reader that was, so the outbox's inserts maintain no more indexes than before.
CREATE INDEX ticket_events_tenant_type_time ON ticket_events (tenant_id, type, occurred_at DESC, id DESC);
DROP INDEX ticket_events_tenant_time;

-- The audit log's filters.
CREATE INDEX audit_events_actor ON audit_events (tenant_id, actor, occurred_at DESC, id DESC);
CREATE INDEX audit_events_action ON audit_events (tenant_id, action, occurred_at DESC, id DESC);
CREATE INDEX audit_events_target ON audit_events (tenant_id, target, occurred_at DESC, id DESC);

-- Tags, per tenant: the GIN index over tags was global, so a tenant's tag filter read every
-- tenant's tickets with that tag (209 ms at 10^7 for a small tenant's 50). This one indexes
-- each tag as "tenant_id:tag" (a tenant id never holds ':'), so the filter reads only its
-- tenant's matches, and the planner's statistics are per tenant and tag. btree_gin's
-- (tenant_id, tags) would need an extension and still walks the tenant's whole posting
-- list: 139 buffers against 3 for a big tenant's rare tag at 10^6 (docs/benchmarks.md).
-- PL/pgSQL, not SQL: a SQL function in an index expression is planned again by every
-- statement that writes the table, which made a ticket create cost 70 % more in PostgreSQL
-- (pgbench, one-row inserts: 2,851 a second against 4,167 for this and 4,902 for the old
-- global index); this one keeps its plan for the session.
CREATE FUNCTION ticket_tag_keys(tenant text, tags text[]) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE STRICT AS $$
DECLARE
    keys text[] := '{}';
    tag text;
BEGIN
    FOREACH tag IN ARRAY tags LOOP
        keys := keys || (tenant || ':' || tag);
    END LOOP;
    RETURN keys;
END
$$;
CREATE INDEX tickets_tenant_tags ON tickets USING gin (ticket_tag_keys(tenant_id, tags));
DROP INDEX tickets_tags;

-- The planner needs statistics of the new expression at once: without them it estimated
-- the tag filter as common and walked the tenant's whole activity index computing it
-- (1.2 s for an absent tag at 10^6).
ANALYZE tickets;
ANALYZE actions;
