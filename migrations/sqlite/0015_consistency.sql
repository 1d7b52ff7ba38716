-- Consistency reports and repairs.
--
-- `effective_roles` is derived data: every role a user holds in an organization, at each
-- scope, directly or through a group in use, so that authorization reads one indexed table
-- instead of expanding group memberships on every request. The store rewrites a user's rows
-- in the same transaction as any change to their bindings or groups; the consistency check
-- `PERMISSION_PARITY` recomputes them from `role_bindings` and `group_members` as a safety net.
CREATE TABLE effective_roles (
    user_id         BLOB NOT NULL REFERENCES users (id),
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    role_id         BLOB NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    project_id      BLOB REFERENCES projects (id),
    scope_key       TEXT NOT NULL,
    PRIMARY KEY (user_id, organization_id, role_id, scope_key)
);

INSERT INTO effective_roles (user_id, organization_id, role_id, project_id, scope_key)
SELECT rb.user_id, rb.organization_id, rb.role_id, rb.project_id, rb.scope_key
FROM role_bindings rb WHERE rb.user_id IS NOT NULL
UNION
SELECT gm.user_id, rb.organization_id, rb.role_id, rb.project_id, rb.scope_key
FROM role_bindings rb
JOIN groups g ON g.id = rb.group_id AND g.archived_at IS NULL
JOIN group_members gm ON gm.group_id = g.id;

-- A consistency run walks its subjects in keyset order; `cursor` is where it stands
-- (`USERS:<id>`, then `ORGANIZATIONS:<id>`), `findings` and `repaired` its counts so far.
ALTER TABLE jobs ADD COLUMN cursor TEXT;
ALTER TABLE jobs ADD COLUMN findings INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN repaired INTEGER NOT NULL DEFAULT 0;

-- What a run found. The subject is named by type and id without a foreign key: it may be
-- a row the repair removed. `status` is OPEN (reported), REPAIRED, UNRESOLVED (no automatic
-- fix, or the fix was refused: `note` says why) or GONE (no longer there when repaired).
CREATE TABLE consistency_findings (
    id              BLOB PRIMARY KEY NOT NULL,
    job_id          BLOB NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    invariant       TEXT NOT NULL,
    subject_type    TEXT NOT NULL,
    subject_id      TEXT NOT NULL,
    user_id         BLOB,
    organization_id BLOB,
    detail          TEXT NOT NULL,
    fix             TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('OPEN', 'REPAIRED', 'UNRESOLVED', 'GONE')),
    note            TEXT,
    found_at        TEXT NOT NULL,
    repaired_at     TEXT
);
CREATE INDEX consistency_findings_job ON consistency_findings (job_id, id);
CREATE INDEX consistency_findings_invariant ON consistency_findings (job_id, invariant, id);
