-- Failed logins per key ('account:<user id>', 'login:<name>' for unknown names,
-- 'address:<client address>'), kept in the database so that every server instance sees them.
CREATE TABLE login_throttles (
    key             TEXT PRIMARY KEY NOT NULL,
    failures        INTEGER NOT NULL,
    last_failure_at TEXT NOT NULL,
    locked_until    TEXT
);
