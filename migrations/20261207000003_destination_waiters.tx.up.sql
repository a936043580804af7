-- Attempts held back by their destination's limit of attempts in flight wait here, in
-- line, instead of asking again every second: each attempt that ends hands its slot to the
-- oldest waiter of its destination by waking its workflow (a Temporal signal). A thousand
-- waiting actions thus cost Temporal nothing until their turn, where they used to cost a
-- thousand activity tasks a second.
CREATE TABLE destination_waiters (
    action_id   text PRIMARY KEY REFERENCES actions (id) ON DELETE CASCADE,
    tenant_id   text NOT NULL,
    destination text NOT NULL,
    since       timestamptz NOT NULL
);
CREATE INDEX destination_waiters_line ON destination_waiters (tenant_id, destination, since, action_id);
