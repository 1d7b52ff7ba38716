-- Background jobs (bulk user imports now, consistency reports and repairs later) and the
-- rows of an import.
--
-- A job is claimed by a worker that holds a lease (`lease_owner` until `lease_until`); a
-- worker that dies stops renewing it and another instance takes the job over once it ends.
-- `checkpoint` is the last input row whose result is committed: work resumes after it.
--
-- `STAGING` is a job whose input is still being written, in short transactions so that a
-- large file does not hold SQLite's write lock; nobody sees it until it is `QUEUED`, and one
-- left behind by a crash is removed after an hour.

CREATE TABLE jobs (
    id               BLOB PRIMARY KEY NOT NULL,
    kind             TEXT NOT NULL,
    organization_id  BLOB REFERENCES organizations (id),
    -- NULL when a maintainer started it from `cargo xtask`.
    initiator_id     BLOB REFERENCES users (id),
    status           TEXT NOT NULL CHECK (status IN ('STAGING', 'QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    -- The kind's own settings, as JSON (an import: dryRun, sendInvitations, file name).
    parameters       TEXT NOT NULL,
    total_rows       INTEGER NOT NULL,
    processed_rows   INTEGER NOT NULL DEFAULT 0,
    created_rows     INTEGER NOT NULL DEFAULT 0,
    skipped_rows     INTEGER NOT NULL DEFAULT 0,
    failed_rows      INTEGER NOT NULL DEFAULT 0,
    checkpoint       INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    lease_owner      BLOB,
    lease_until      TEXT,
    -- How many times a worker claimed it: more than one means it was taken over or resumed.
    attempts         INTEGER NOT NULL DEFAULT 0,
    error            TEXT,
    created_at       TEXT NOT NULL,
    started_at       TEXT,
    finished_at      TEXT,
    updated_at       TEXT NOT NULL
);
CREATE INDEX jobs_claimable ON jobs (status, created_at);
CREATE INDEX jobs_organization ON jobs (organization_id, created_at);
CREATE INDEX jobs_initiator ON jobs (initiator_id, created_at);

-- The rows of an import file as read (`username` ... `language` as written in the file), and
-- once processed their result. The keys are the normalized username and e-mail address of a
-- row that was (or in a dry run would have been) created, to find duplicates in the file.
CREATE TABLE import_rows (
    job_id       BLOB NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    row_number   INTEGER NOT NULL,
    username     TEXT NOT NULL,
    email        TEXT NOT NULL,
    name         TEXT NOT NULL,
    role         TEXT,
    language     TEXT,
    status       TEXT CHECK (status IN ('CREATED', 'SKIPPED', 'FAILED')),
    field        TEXT,
    reason       TEXT,
    user_id      BLOB REFERENCES users (id),
    username_key TEXT,
    email_key    TEXT,
    PRIMARY KEY (job_id, row_number)
);
CREATE INDEX import_rows_status ON import_rows (job_id, status, row_number);
CREATE INDEX import_rows_username ON import_rows (job_id, username_key);
CREATE INDEX import_rows_email ON import_rows (job_id, email_key);
