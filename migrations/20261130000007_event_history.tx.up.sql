-- A tenant's events by time, processed or not, for backtests of draft automations over
-- the last 30 days (events are kept that long).
CREATE INDEX ticket_events_tenant_time ON ticket_events (tenant_id, occurred_at DESC, id DESC);
