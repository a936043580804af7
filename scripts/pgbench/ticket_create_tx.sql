-- The rows of one ticket create with its first message, as the API writes them (the same
-- tables, columns, indexes and sizes), in an explicit transaction: pgbench's yardstick for
-- `make bench`. :client_id and a random number make ids unique.
\set n random(1, 1000000000)
BEGIN;
INSERT INTO tickets (id, tenant_id, subject, status, priority, channel, tags, contact_name, contact_email, message_count, created_at, updated_at, last_message_at)
VALUES ('tkt_pg' || :client_id || '_' || :n || '_' || txid_current(), 'ten_pgbench', 'Where is my order?', 'open', 'normal', 'email', '{returns,vip}', 'Ada Lovelace', 'ada@example.com', 1, now(), now(), now());
INSERT INTO messages (id, tenant_id, ticket_id, role, content, channel, created_at)
VALUES ('msg_pg' || :client_id || '_' || :n || '_' || txid_current(), 'ten_pgbench', 'tkt_pg' || :client_id || '_' || :n || '_' || txid_current(), 'user', 'Order 42 has not arrived yet; it was due on Monday. Could you check with the carrier?', 'email', now());
INSERT INTO ticket_events (id, tenant_id, ticket_id, type, actor, depth, chain, payload, occurred_at)
VALUES ('evt_pg' || :client_id || '_' || :n || '_' || txid_current(), 'ten_pgbench', 'tkt_pg' || :client_id || '_' || :n || '_' || txid_current(), 'ticket.created', 'api_key:key_pgbench', 1, '{}',
  '{"ticket": {"ID": "tkt_x", "TenantID": "ten_pgbench", "Subject": "Where is my order?", "Status": "open", "Priority": "normal", "Channel": "email", "Tags": ["returns", "vip"], "Contact": {"Name": "Ada Lovelace", "Email": "ada@example.com", "Phone": ""}, "MessageCount": 1, "CreatedAt": "2026-11-30T10:00:00Z", "UpdatedAt": "2026-11-30T10:00:00Z", "LastMessageAt": "2026-11-30T10:00:00Z"}, "message": {"ID": "msg_x", "TicketID": "tkt_x", "Role": "user", "Content": "Order 42 has not arrived yet; it was due on Monday. Could you check with the carrier?", "Channel": "email", "CreatedAt": "2026-11-30T10:00:00Z"}}',
  now());
COMMIT;
