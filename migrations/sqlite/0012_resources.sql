-- Resources that users own, registered by the platform's other services. Kinds are data:
-- seeded here with the kinds the platform has, and SuperAdmins add more. A kind says whether
-- its resources can change owner, whether they must be disabled first (schedules), and
-- whether it is application-level (never owned by anyone).
CREATE TABLE resource_kinds (
    code                    TEXT PRIMARY KEY NOT NULL,
    name                    TEXT NOT NULL,
    transferable            INTEGER NOT NULL,
    disable_before_transfer INTEGER NOT NULL,
    application_level       INTEGER NOT NULL,
    created_at              TEXT NOT NULL
);

INSERT INTO resource_kinds (code, name, transferable, disable_before_transfer, application_level, created_at) VALUES
    ('GROUP', 'Group', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('CONNECTION', 'Connection', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('CONNECTION_APP', 'Connection app', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('STREAM', 'Stream', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('DATASET', 'Dataset', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('VIEW', 'View', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('SEARCH_INDEX', 'Search index', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('DATA_QUALITY_CHECK', 'Data-quality check', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('DOMAIN', 'Domain', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('DASHBOARD', 'Dashboard', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('INSIGHT', 'Insight', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('WORKFLOW', 'Workflow', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('ML_MODEL', 'ML model', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('ENTITY_RECOGNIZER', 'Entity recognizer', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('NOTEBOOK', 'Notebook', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('FORECAST_JOB', 'Forecast job', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('ETL_JOB', 'ETL job', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('ENDPOINT', 'Endpoint', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('SHARED_LIBRARY', 'Shared library', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('SCHEDULE', 'Schedule', 1, 1, 0, '2026-11-23T00:00:00.000000Z'),
    ('APP', 'App', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('PARAMETER', 'Parameter', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('AGGREGATION_TASK', 'Aggregation task', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('DATA_INJECTION', 'Data injection', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('ACTIVEBOARD', 'Activeboard', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('LOOKUP', 'Lookup', 1, 0, 0, '2026-11-23T00:00:00.000000Z'),
    ('DATA_CLASSIFICATION', 'Data classification', 0, 0, 1, '2026-11-23T00:00:00.000000Z'),
    ('MAIL_SERVER', 'Mail server', 0, 0, 1, '2026-11-23T00:00:00.000000Z'),
    ('USER_AGREEMENT', 'User agreement', 0, 0, 1, '2026-11-23T00:00:00.000000Z');

CREATE TABLE resources (
    id              BLOB PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL REFERENCES resource_kinds (code),
    name            TEXT NOT NULL,
    -- The registering service's own id; (kind, external_id) makes registration idempotent.
    external_id     TEXT NOT NULL,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    project_id      BLOB REFERENCES projects (id),
    owner_user_id   BLOB NOT NULL REFERENCES users (id),
    enabled         INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (kind, external_id)
);
CREATE INDEX resources_owner ON resources (owner_user_id, kind, id);
CREATE INDEX resources_organization ON resources (organization_id, id);
