-- Steward's first schema: organizations with their projects, e-mail domains and groups,
-- users and memberships, roles and role bindings, signing keys, sessions, audit events.
--
-- SQLite types follow sqlx's encodings: UUIDs are 16-byte BLOBs, timestamps are RFC 3339
-- TEXT in UTC (so they sort as text), booleans are INTEGER 0/1. Case-insensitive uniqueness
-- is enforced on stored lower-case copies, which works the same on PostgreSQL.

CREATE TABLE users (
    id                   BLOB PRIMARY KEY NOT NULL,
    username             TEXT NOT NULL,
    username_normalized  TEXT NOT NULL UNIQUE,
    email                TEXT NOT NULL,
    email_normalized     TEXT NOT NULL UNIQUE,
    full_name            TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('PENDING_VALIDATION', 'ACTIVE', 'SUSPENDED', 'PENDING_DELETION', 'DELETED')),
    platform_role        TEXT CHECK (platform_role IN ('SUPER_ADMIN')),
    -- NULL until the user has set a password (invitations, set-password links).
    password_hash        TEXT,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    language             TEXT NOT NULL DEFAULT 'en',
    email_subscription   INTEGER NOT NULL DEFAULT 1,
    country              TEXT,
    phone                TEXT,
    mfa_enabled          INTEGER NOT NULL DEFAULT 0,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    last_login_at        TEXT
);

CREATE TABLE organizations (
    id            BLOB PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    -- The owner is a user; NULL only while an organization is being set up or repaired.
    owner_user_id BLOB REFERENCES users (id),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE roles (
    id              BLOB PRIMARY KEY NOT NULL,
    organization_id BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    name_normalized TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    built_in        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (organization_id, name_normalized)
);

-- A role's permissions as (area, level) pairs.
CREATE TABLE role_permissions (
    role_id BLOB NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    area    TEXT NOT NULL,
    level   TEXT NOT NULL,
    PRIMARY KEY (role_id, area, level)
);

CREATE TABLE memberships (
    id              BLOB PRIMARY KEY NOT NULL,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    user_id         BLOB NOT NULL REFERENCES users (id),
    status          TEXT NOT NULL CHECK (status IN ('INVITED', 'ACTIVE', 'DISABLED')),
    default_role_id BLOB REFERENCES roles (id),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (organization_id, user_id)
);
CREATE INDEX memberships_user_id ON memberships (user_id);

-- Projects inside an organization; roles can be bound at project scope.
CREATE TABLE projects (
    id              BLOB PRIMARY KEY NOT NULL,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    name            TEXT NOT NULL,
    name_normalized TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    archived_at     TEXT,
    UNIQUE (organization_id, name_normalized)
);

-- E-mail domains an organization accepts for its users; none listed means any domain.
CREATE TABLE organization_email_domains (
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    domain          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (organization_id, domain)
);

-- Named sets of users inside an organization.
CREATE TABLE groups (
    id              BLOB PRIMARY KEY NOT NULL,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    name            TEXT NOT NULL,
    name_normalized TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    archived_at     TEXT,
    UNIQUE (organization_id, name_normalized)
);

CREATE TABLE group_members (
    group_id   BLOB NOT NULL REFERENCES groups (id),
    user_id    BLOB NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user_id ON group_members (user_id);

-- A role given to a user or to a group, for the whole organization or for one project.
-- subject_key ('user:<id>' or 'group:<id>') and scope_key ('organization' or the project id)
-- make "bound once" a plain unique constraint on both databases despite the NULL columns.
CREATE TABLE role_bindings (
    id              BLOB PRIMARY KEY NOT NULL,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    role_id         BLOB NOT NULL REFERENCES roles (id),
    user_id         BLOB REFERENCES users (id),
    group_id        BLOB REFERENCES groups (id),
    project_id      BLOB REFERENCES projects (id),
    subject_key     TEXT NOT NULL,
    scope_key       TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    CHECK ((user_id IS NULL) <> (group_id IS NULL)),
    UNIQUE (role_id, subject_key, scope_key)
);
CREATE INDEX role_bindings_user_id ON role_bindings (user_id);
CREATE INDEX role_bindings_group_id ON role_bindings (group_id);
CREATE INDEX role_bindings_organization_id ON role_bindings (organization_id, role_id);

-- Keys that sign access tokens. Retired keys stay published until their last token expires.
CREATE TABLE signing_keys (
    id          BLOB PRIMARY KEY NOT NULL,
    kid         TEXT NOT NULL UNIQUE,
    algorithm   TEXT NOT NULL,
    private_key BLOB NOT NULL,
    public_key  BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    retired_at  TEXT
);

-- A login. Access tokens name their session, so revoking it takes effect at once.
CREATE TABLE sessions (
    id             BLOB PRIMARY KEY NOT NULL,
    user_id        BLOB NOT NULL REFERENCES users (id),
    -- The organization and role the session acts in; tokens carry them, and a refreshed
    -- token keeps them. NULL for a user with no active membership (a SuperAdmin, say).
    organization_id BLOB REFERENCES organizations (id),
    active_role_id  BLOB REFERENCES roles (id),
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    last_used_at   TEXT,
    revoked_at     TEXT,
    client_address TEXT,
    user_agent     TEXT
);
CREATE INDEX sessions_user_id ON sessions (user_id);

-- Append-only. No foreign keys: events outlive the rows they speak of.
CREATE TABLE audit_events (
    id              BLOB PRIMARY KEY NOT NULL,
    occurred_at     TEXT NOT NULL,
    actor_user_id   BLOB,
    action          TEXT NOT NULL,
    target_type     TEXT,
    target_id       TEXT,
    organization_id BLOB,
    client_address  TEXT,
    outcome         TEXT NOT NULL CHECK (outcome IN ('SUCCESS', 'FAILURE')),
    detail          TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at);
CREATE INDEX audit_events_actor ON audit_events (actor_user_id, occurred_at);
-- An organization's trail, newest first, and its count.
CREATE INDEX audit_events_organization ON audit_events (organization_id, occurred_at);
