CREATE INDEX tickets_tags ON tickets USING gin (tags);
DROP INDEX tickets_tenant_tags;
DROP FUNCTION ticket_tag_keys(text, text[]);
DROP INDEX audit_events_target;
DROP INDEX audit_events_action;
DROP INDEX audit_events_actor;
CREATE INDEX ticket_events_tenant_time ON ticket_events (tenant_id, occurred_at DESC, id DESC);
DROP INDEX ticket_events_tenant_type_time;
ALTER TABLE actions DROP COLUMN host;
