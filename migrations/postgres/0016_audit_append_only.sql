-- The audit trail is append-only in the database itself, not only by the store's habit: an
-- UPDATE of an event is refused, and so are DELETE and TRUNCATE, except the retention
-- purge's DELETE. The same rules as migrations/sqlite/0016_audit_append_only.sql.
--
-- Refused mutations are audited too, with the outcome `DENIED`.
ALTER TABLE audit_events DROP CONSTRAINT audit_events_outcome_check;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_outcome_check
    CHECK (outcome IN ('SUCCESS', 'FAILURE', 'DENIED'));

-- The retention purge (`Store::purge_audit_events`) writes one row here in its own
-- transaction, deletes the events that occurred before `purge_before`, and removes the row
-- before it commits: other transactions never see the row, so for them every DELETE is
-- refused.
CREATE TABLE audit_retention_purge (
    purge_before timestamptz NOT NULL
);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF EXISTS (SELECT 1 FROM audit_retention_purge p WHERE OLD.occurred_at < p.purge_before) THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit events are append-only: only the retention purge deletes events, and only those older than its limit'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
