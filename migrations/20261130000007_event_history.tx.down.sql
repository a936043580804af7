DROP INDEX ticket_events_tenant_time;
