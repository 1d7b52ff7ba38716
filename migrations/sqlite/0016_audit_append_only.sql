-- The audit trail is append-only in the database itself, not only by the store's habit: an
-- UPDATE of an event is refused, and so is a DELETE, except by the retention purge.
--
-- Refused mutations are audited too, with the outcome `DENIED`. SQLite cannot change a
-- CHECK constraint in place, so the table is rebuilt with the new list of outcomes (same
-- columns, rows and indexes).
CREATE TABLE audit_events_new (
    id              BLOB PRIMARY KEY NOT NULL,
    occurred_at     TEXT NOT NULL,
    actor_user_id   BLOB,
    action          TEXT NOT NULL,
    target_type     TEXT,
    target_id       TEXT,
    organization_id BLOB,
    client_address  TEXT,
    outcome         TEXT NOT NULL CHECK (outcome IN ('SUCCESS', 'FAILURE', 'DENIED')),
    detail          TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO audit_events_new (id, occurred_at, actor_user_id, action, target_type, target_id,
                              organization_id, client_address, outcome, detail)
SELECT id, occurred_at, actor_user_id, action, target_type, target_id, organization_id,
       client_address, outcome, detail
FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_new RENAME TO audit_events;
CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at);
CREATE INDEX audit_events_actor ON audit_events (actor_user_id, occurred_at);
-- An organization's trail, newest first, and its count.
CREATE INDEX audit_events_organization ON audit_events (organization_id, occurred_at);

-- The retention purge (`Store::purge_audit_events`) writes one row here in its own
-- transaction, deletes the events that occurred before `purge_before`, and removes the row
-- before it commits: while no purge runs, the table is empty and every DELETE is refused.
-- Timestamps are stored in one fixed-width UTC format, so they compare as text.
CREATE TABLE audit_retention_purge (
    purge_before TEXT NOT NULL
);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only: an event cannot be changed');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN NOT EXISTS (
    SELECT 1 FROM audit_retention_purge p WHERE OLD.occurred_at < p.purge_before
)
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only: only the retention purge deletes events, and only those older than its limit');
END;
