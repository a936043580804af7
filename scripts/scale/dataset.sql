-- The scale dataset of `make bench` (issue 22): :n tickets written straight into a
-- migrated database by SQL, seconds per million rows, never through the API.
--
--   psql -v n=1000000 -f scripts/scale/dataset.sql "$DATABASE_URL"
--
-- Tenants: ten_big holds half the tickets; ten_small holds 500 tickets, 50 of them tagged
-- vip; 999 others (ten_s001 ...) share the rest. Over all tenants 10 % of tickets carry vip,
-- and 0.05 % of ten_big's carry legal. Per ticket: one message, four events
-- (ticket.created, message.created, two ticket.updated; one ticket in 1,000 also has an
-- sla.breached), half an action (custom_http to one of five hosts, finished), a tenth of an
-- audit row. IDs have the API's shapes (prefix, 26 characters that sort by time), payloads
-- the stored JSON shapes. The last 1 % of events are written pending and then processed,
-- as a drain leaves them, so the outbox's index holds what a real drain leaves behind.
\set ON_ERROR_STOP on
\if :{?n}
\else
\set n 10000
\endif

BEGIN;
SET LOCAL synchronous_commit = off;

INSERT INTO tenants (id, name, created_at, allowed_hosts)
SELECT id, id, now() - interval '400 days', '{}'::text[]
FROM (VALUES ('ten_big'), ('ten_small')) AS t(id)
UNION ALL
SELECT 'ten_s' || lpad(i::text, 3, '0'), 'small ' || i, now() - interval '400 days', '{}'::text[]
FROM generate_series(1, 999) AS i;

-- Ticket i: its tenant, created 25 days ago plus i steps, so that ids and times ascend
-- together as the API's do, and every event falls inside a 30-day backtest.
CREATE TEMP TABLE gen ON COMMIT DROP AS
SELECT i,
	CASE WHEN i % 2 = 0 THEN 'ten_big'
	     WHEN i % 2 = 1 AND (i / 2) % 1000 = 0 AND (i / 2000) < 500 THEN 'ten_small'
	     ELSE 'ten_s' || lpad((1 + (i / 2) % 999)::text, 3, '0') END AS tenant_id,
	now() - interval '25 days' + (i * (interval '24 days' / :n)) AS at,
	lpad(to_hex(i), 10, '0') || substr(md5(i::text), 1, 16) AS body
FROM generate_series(1, :n) AS i;
-- ten_small has 500 tickets whatever n is (the rows above are only as many as n allows).
INSERT INTO gen
SELECT :n + j, 'ten_small', now() - interval '25 days' + j * interval '1 minute',
	lpad(to_hex(:n + j), 10, '0') || substr(md5((:n + j)::text), 1, 16)
FROM generate_series(1, 500 - (SELECT count(*) FROM gen WHERE tenant_id = 'ten_small')) AS j;

INSERT INTO tickets (id, tenant_id, subject, status, priority, channel, tags, contact_name, contact_email, contact_phone, message_count, created_at, updated_at, last_message_at)
SELECT 'tkt_' || body, tenant_id, 'Order ' || i || ' arrived damaged',
	(ARRAY['open', 'pending', 'on_hold', 'solved', 'closed'])[1 + i % 5],
	(ARRAY['low', 'normal', 'normal', 'high', 'urgent'])[1 + (i / 5) % 5],
	(ARRAY['email', 'chat', 'sms', 'whatsapp', 'voice', 'web', 'api', 'social'])[1 + i % 8],
	CASE WHEN tenant_id = 'ten_small' THEN CASE WHEN row_number() OVER (PARTITION BY tenant_id ORDER BY i) <= 50 THEN ARRAY['vip'] ELSE ARRAY['retail'] END
	     WHEN tenant_id = 'ten_big' AND i % 4000 = 0 THEN ARRAY['legal', 'retail']
	     WHEN i % 10 = 3 THEN ARRAY['vip', 'retail']
	     ELSE ARRAY['retail'] END,
	'Customer ' || i, 'customer' || i || '@example.com', '+1555' || lpad(i::text, 7, '0'),
	1, at, at + interval '2 minutes', at
FROM gen;

INSERT INTO messages (id, tenant_id, ticket_id, role, content, channel, created_at)
SELECT 'msg_' || body, tenant_id, 'tkt_' || body, 'user',
	'Hello, my order ' || i || ' arrived damaged. Could you send a replacement?', 'email', at
FROM gen;

-- Events: ticket.created, message.created and two ticket.updated per ticket; one ticket in
-- 1,000 also breached its SLA. ticket_payload is the stored ticket as the outbox writes it.
CREATE TEMP TABLE genev ON COMMIT DROP AS
SELECT g.i, g.tenant_id, g.body, k, g.at + k * interval '1 second' AS at,
	CASE k WHEN 0 THEN 'ticket.created' WHEN 1 THEN 'message.created' WHEN 4 THEN 'sla.breached' ELSE 'ticket.updated' END AS type
FROM gen g CROSS JOIN generate_series(0, 4) AS k
WHERE k < 4 OR g.i % 1000 = 7;

INSERT INTO ticket_events (id, tenant_id, ticket_id, type, actor, depth, chain, payload, occurred_at, processed_at, attempts)
SELECT 'evt_' || lpad(to_hex(i * 5 + k), 10, '0') || substr(md5(i::text || k), 1, 16), e.tenant_id, 'tkt_' || e.body, e.type,
	CASE WHEN k IN (2, 3) THEN 'key_' || substr(md5(e.tenant_id), 1, 26) ELSE 'api' END, 1, '{}',
	jsonb_build_object('ticket', jsonb_build_object('ID', 'tkt_' || e.body, 'TenantID', e.tenant_id,
		'Subject', 'Order ' || i || ' arrived damaged', 'Status', 'open', 'Priority', 'normal', 'Channel', 'email',
		'Tags', jsonb_build_array('retail'), 'Contact', jsonb_build_object('name', 'Customer ' || i, 'email', 'customer' || i || '@example.com', 'phone', ''),
		'MessageCount', 1, 'CreatedAt', e.at, 'UpdatedAt', e.at, 'LastMessageAt', e.at))
	|| CASE WHEN k IN (2, 3) THEN jsonb_build_object('changes', jsonb_build_object('Status', jsonb_build_object('from', 'open', 'to', 'pending'))) ELSE '{}' END,
	e.at, CASE WHEN i <= :n * 0.99 THEN e.at + interval '50 milliseconds' END,
	CASE WHEN i <= :n * 0.99 THEN 1 ELSE 0 END
FROM genev e;
-- The drain: the last 1 % were pending until the worker processed them.
UPDATE ticket_events SET processed_at = occurred_at + interval '50 milliseconds', attempts = 1 WHERE processed_at IS NULL;

-- Actions: every second ticket had a finished custom_http call to one of five hosts.
INSERT INTO actions (id, tenant_id, ticket_id, action_type, status, requested_by, payload, request, attempts, workflow_started, origin, response, created_at, updated_at, completed_at)
SELECT 'act_' || body, tenant_id, 'tkt_' || body, 'custom_http',
	CASE WHEN i % 20 IN (1, 4) THEN 'failed' ELSE 'succeeded' END,
	CASE WHEN i % 4 = 1 THEN 'automation:aut_' || substr(md5(tenant_id), 1, 26) ELSE 'key:key_' || substr(md5(tenant_id), 1, 26) END,
	jsonb_build_object('type', 'custom_http', 'method', 'POST', 'url', url, 'body_json', '{"ticket":"tkt_' || body || '"}'),
	jsonb_build_object('Method', 'POST', 'URL', url, 'Headers', jsonb_build_object('Authorization', 'Bearer receiver-token'), 'BodyJSON', '{"ticket":"tkt_' || body || '"}', 'TimeoutMS', 10000, 'MaxAttempts', 5),
	1, true, CASE WHEN i % 4 = 1 THEN 'automation' ELSE 'api' END,
	jsonb_build_object('status_code', 200, 'headers', jsonb_build_object('Content-Type', 'application/json'), 'body', '{"ok":true}', 'body_truncated', false, 'duration_ms', 42),
	at, at + interval '1 second', at + interval '1 second'
FROM (SELECT *, 'https://' || (ARRAY['hooks.crm.example', 'api.billing.example', 'bot.chat.example', 'Hooks.Shop.Example:8443', 'erp.example'])[1 + (i / 2) % 5] || '/threada/' || i AS url
	FROM gen WHERE i % 2 = 1 OR tenant_id = 'ten_big' AND i % 4 = 0) AS a;

-- Audit: a tenth of an audit row per ticket, of five kinds.
INSERT INTO audit_events (id, tenant_id, actor, action, target, request_id, client_ip, after, occurred_at)
SELECT 'aud_' || body, tenant_id, 'key_' || substr(md5(tenant_id), 1, 26),
	(ARRAY['automation.updated', 'api_key.created', 'settings.updated', 'automation.created', 'action_replay.created'])[1 + (i / 10) % 5],
	'aut_' || substr(md5(i::text), 1, 26), 'req_' || body, '203.0.113.7', jsonb_build_object('name', 'rule ' || i), at
FROM gen WHERE i % 10 = 0;

COMMIT;
VACUUM ANALYZE;
