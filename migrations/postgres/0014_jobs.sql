-- Background jobs; the same tables as migrations/sqlite/0014_jobs.sql, with PostgreSQL's
-- native types.
--
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
    id               uuid PRIMARY KEY,
    kind             text NOT NULL,
    organization_id  uuid REFERENCES organizations (id),
    -- NULL when a maintainer started it from `cargo xtask`.
    initiator_id     uuid REFERENCES users (id),
    status           text NOT NULL CHECK (status IN ('STAGING', 'QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    -- The kind's own settings, as JSON (an import: dryRun, sendInvitations, file name).
    parameters       jsonb NOT NULL,
    total_rows       bigint NOT NULL,
    processed_rows   bigint NOT NULL DEFAULT 0,
    created_rows     bigint NOT NULL DEFAULT 0,
    skipped_rows     bigint NOT NULL DEFAULT 0,
    failed_rows      bigint NOT NULL DEFAULT 0,
    checkpoint       bigint NOT NULL DEFAULT 0,
    cancel_requested boolean NOT NULL DEFAULT false,
    lease_owner      uuid,
    lease_until      timestamptz,
    -- How many times a worker claimed it: more than one means it was taken over or resumed.
    attempts         bigint NOT NULL DEFAULT 0,
    error            text,
    created_at       timestamptz NOT NULL,
    started_at       timestamptz,
    finished_at      timestamptz,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX jobs_claimable ON jobs (status, created_at);
CREATE INDEX jobs_organization ON jobs (organization_id, created_at);
CREATE INDEX jobs_initiator ON jobs (initiator_id, created_at);

-- The rows of an import file as read (`username` ... `language` as written in the file), and
-- once processed their result. The keys are the normalized username and e-mail address of a
-- row that was (or in a dry run would have been) created, to find duplicates in the file.
CREATE TABLE import_rows (
    job_id       uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    row_number   bigint NOT NULL,
    username     text NOT NULL,
    email        text NOT NULL,
    name         text NOT NULL,
    role         text,
    language     text,
    status       text CHECK (status IN ('CREATED', 'SKIPPED', 'FAILED')),
    field        text,
    reason       text,
    user_id      uuid REFERENCES users (id),
    username_key text,
    email_key    text,
    PRIMARY KEY (job_id, row_number)
);
CREATE INDEX import_rows_status ON import_rows (job_id, status, row_number);
CREATE INDEX import_rows_username ON import_rows (job_id, username_key);
CREATE INDEX import_rows_email ON import_rows (job_id, email_key);
