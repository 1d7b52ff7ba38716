-- Failed logins per key ('account:<user id>', 'login:<name>' for unknown names,
-- 'address:<client address>'), kept in the database so that every server instance sees them.
CREATE TABLE login_throttles (
    key             text PRIMARY KEY,
    failures        bigint NOT NULL,
    last_failure_at timestamptz NOT NULL,
    locked_until    timestamptz
);
