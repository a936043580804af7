-- Issue 21's yardstick: a ticket and its first message with the columns and primary keys
-- of the API's, in one explicit transaction of two inserts (no event row).
\set n random(1, 1000000000)
BEGIN;
INSERT INTO tickets (id, tenant_id, subject, status, priority, channel, tags, contact_name, contact_email, message_count, created_at, updated_at, last_message_at)
VALUES ('tkt_pg' || :client_id || '_' || :n || '_' || txid_current(), 'ten_pgbench', 'Where is my order?', 'open', 'normal', 'email', '{returns,vip}', 'Ada Lovelace', 'ada@example.com', 1, now(), now(), now());
INSERT INTO messages (id, tenant_id, ticket_id, role, content, channel, created_at)
VALUES ('msg_pg' || :client_id || '_' || :n || '_' || txid_current(), 'ten_pgbench', 'tkt_pg' || :client_id || '_' || :n || '_' || txid_current(), 'user', 'Order 42 has not arrived yet; it was due on Monday. Could you check with the carrier?', 'email', now());
COMMIT;
