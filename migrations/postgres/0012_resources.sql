-- Resources that users own, registered by the platform's other services. Kinds are data:
-- seeded here with the kinds the platform has, and SuperAdmins add more. A kind says whether
-- its resources can change owner, whether they must be disabled first (schedules), and
-- whether it is application-level (never owned by anyone).
CREATE TABLE resource_kinds (
    code                    text PRIMARY KEY,
    name                    text NOT NULL,
    transferable            boolean NOT NULL,
    disable_before_transfer boolean NOT NULL,
    application_level       boolean NOT NULL,
    created_at              timestamptz NOT NULL
);

INSERT INTO resource_kinds (code, name, transferable, disable_before_transfer, application_level, created_at) VALUES
    ('GROUP', 'Group', true, false, false, '2026-11-23T00:00:00Z'),
    ('CONNECTION', 'Connection', true, false, false, '2026-11-23T00:00:00Z'),
    ('CONNECTION_APP', 'Connection app', true, false, false, '2026-11-23T00:00:00Z'),
    ('STREAM', 'Stream', true, false, false, '2026-11-23T00:00:00Z'),
    ('DATASET', 'Dataset', true, false, false, '2026-11-23T00:00:00Z'),
    ('VIEW', 'View', true, false, false, '2026-11-23T00:00:00Z'),
    ('SEARCH_INDEX', 'Search index', true, false, false, '2026-11-23T00:00:00Z'),
    ('DATA_QUALITY_CHECK', 'Data-quality check', true, false, false, '2026-11-23T00:00:00Z'),
    ('DOMAIN', 'Domain', true, false, false, '2026-11-23T00:00:00Z'),
    ('DASHBOARD', 'Dashboard', true, false, false, '2026-11-23T00:00:00Z'),
    ('INSIGHT', 'Insight', true, false, false, '2026-11-23T00:00:00Z'),
    ('WORKFLOW', 'Workflow', true, false, false, '2026-11-23T00:00:00Z'),
    ('ML_MODEL', 'ML model', true, false, false, '2026-11-23T00:00:00Z'),
    ('ENTITY_RECOGNIZER', 'Entity recognizer', true, false, false, '2026-11-23T00:00:00Z'),
    ('NOTEBOOK', 'Notebook', true, false, false, '2026-11-23T00:00:00Z'),
    ('FORECAST_JOB', 'Forecast job', true, false, false, '2026-11-23T00:00:00Z'),
    ('ETL_JOB', 'ETL job', true, false, false, '2026-11-23T00:00:00Z'),
    ('ENDPOINT', 'Endpoint', true, false, false, '2026-11-23T00:00:00Z'),
    ('SHARED_LIBRARY', 'Shared library', true, false, false, '2026-11-23T00:00:00Z'),
    ('SCHEDULE', 'Schedule', true, true, false, '2026-11-23T00:00:00Z'),
    ('APP', 'App', true, false, false, '2026-11-23T00:00:00Z'),
    ('PARAMETER', 'Parameter', true, false, false, '2026-11-23T00:00:00Z'),
    ('AGGREGATION_TASK', 'Aggregation task', true, false, false, '2026-11-23T00:00:00Z'),
    ('DATA_INJECTION', 'Data injection', true, false, false, '2026-11-23T00:00:00Z'),
    ('ACTIVEBOARD', 'Activeboard', true, false, false, '2026-11-23T00:00:00Z'),
    ('LOOKUP', 'Lookup', true, false, false, '2026-11-23T00:00:00Z'),
    ('DATA_CLASSIFICATION', 'Data classification', false, false, true, '2026-11-23T00:00:00Z'),
    ('MAIL_SERVER', 'Mail server', false, false, true, '2026-11-23T00:00:00Z'),
    ('USER_AGREEMENT', 'User agreement', false, false, true, '2026-11-23T00:00:00Z');

CREATE TABLE resources (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL REFERENCES resource_kinds (code),
    name            text NOT NULL,
    -- The registering service's own id; (kind, external_id) makes registration idempotent.
    external_id     text NOT NULL,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    project_id      uuid REFERENCES projects (id),
    owner_user_id   uuid NOT NULL REFERENCES users (id),
    enabled         boolean NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    UNIQUE (kind, external_id)
);
CREATE INDEX resources_owner ON resources (owner_user_id, kind, id);
CREATE INDEX resources_organization ON resources (organization_id, id);
