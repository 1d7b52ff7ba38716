-- Steward's first schema: organizations with their projects, e-mail domains and groups,
-- users and memberships, roles and role bindings, signing keys, sessions, audit events.
--
-- The same tables and columns as migrations/sqlite/0001_init.sql, with PostgreSQL's native
-- types: uuid, timestamptz, boolean, bytea, jsonb. Case-insensitive uniqueness is enforced on
-- stored lower-case copies so the SQL text is shared with SQLite.

CREATE TABLE users (
    id                   uuid PRIMARY KEY,
    username             text NOT NULL,
    username_normalized  text NOT NULL UNIQUE,
    email                text NOT NULL,
    email_normalized     text NOT NULL UNIQUE,
    full_name            text NOT NULL,
    status               text NOT NULL CHECK (status IN ('PENDING_VALIDATION', 'ACTIVE', 'SUSPENDED', 'PENDING_DELETION', 'DELETED')),
    platform_role        text CHECK (platform_role IN ('SUPER_ADMIN')),
    -- NULL until the user has set a password (invitations, set-password links).
    password_hash        text,
    must_change_password boolean NOT NULL DEFAULT false,
    language             text NOT NULL DEFAULT 'en',
    email_subscription   boolean NOT NULL DEFAULT true,
    country              text,
    phone                text,
    mfa_enabled          boolean NOT NULL DEFAULT false,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    last_login_at        timestamptz
);

CREATE TABLE organizations (
    id            uuid PRIMARY KEY,
    name          text NOT NULL,
    -- The owner is a user; NULL only while an organization is being set up or repaired.
    owner_user_id uuid REFERENCES users (id),
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

CREATE TABLE roles (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL,
    name_normalized text NOT NULL,
    description     text NOT NULL DEFAULT '',
    built_in        boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    UNIQUE (organization_id, name_normalized)
);

-- A role's permissions as (area, level) pairs.
CREATE TABLE role_permissions (
    role_id uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    area    text NOT NULL,
    level   text NOT NULL,
    PRIMARY KEY (role_id, area, level)
);

CREATE TABLE memberships (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    user_id         uuid NOT NULL REFERENCES users (id),
    status          text NOT NULL CHECK (status IN ('INVITED', 'ACTIVE', 'DISABLED')),
    default_role_id uuid REFERENCES roles (id),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    UNIQUE (organization_id, user_id)
);
CREATE INDEX memberships_user_id ON memberships (user_id);

-- Projects inside an organization; roles can be bound at project scope.
CREATE TABLE projects (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    name            text NOT NULL,
    name_normalized text NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    archived_at     timestamptz,
    UNIQUE (organization_id, name_normalized)
);

-- E-mail domains an organization accepts for its users; none listed means any domain.
CREATE TABLE organization_email_domains (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    domain          text NOT NULL,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (organization_id, domain)
);

-- Named sets of users inside an organization.
CREATE TABLE groups (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    name            text NOT NULL,
    name_normalized text NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    archived_at     timestamptz,
    UNIQUE (organization_id, name_normalized)
);

CREATE TABLE group_members (
    group_id   uuid NOT NULL REFERENCES groups (id),
    user_id    uuid NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user_id ON group_members (user_id);

-- A role given to a user or to a group, for the whole organization or for one project.
-- subject_key ('user:<id>' or 'group:<id>') and scope_key ('organization' or the project id)
-- make "bound once" a plain unique constraint on both databases despite the NULL columns.
CREATE TABLE role_bindings (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    role_id         uuid NOT NULL REFERENCES roles (id),
    user_id         uuid REFERENCES users (id),
    group_id        uuid REFERENCES groups (id),
    project_id      uuid REFERENCES projects (id),
    subject_key     text NOT NULL,
    scope_key       text NOT NULL,
    created_at      timestamptz NOT NULL,
    CHECK ((user_id IS NULL) <> (group_id IS NULL)),
    UNIQUE (role_id, subject_key, scope_key)
);
CREATE INDEX role_bindings_user_id ON role_bindings (user_id);
CREATE INDEX role_bindings_group_id ON role_bindings (group_id);
CREATE INDEX role_bindings_organization_id ON role_bindings (organization_id, role_id);

-- Keys that sign access tokens. Retired keys stay published until their last token expires.
CREATE TABLE signing_keys (
    id          uuid PRIMARY KEY,
    kid         text NOT NULL UNIQUE,
    algorithm   text NOT NULL,
    private_key bytea NOT NULL,
    public_key  bytea NOT NULL,
    created_at  timestamptz NOT NULL,
    retired_at  timestamptz
);

-- A login. Access tokens name their session, so revoking it takes effect at once.
CREATE TABLE sessions (
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (id),
    -- The organization and role the session acts in; tokens carry them, and a refreshed
    -- token keeps them. NULL for a user with no active membership (a SuperAdmin, say).
    organization_id uuid REFERENCES organizations (id),
    active_role_id  uuid REFERENCES roles (id),
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    last_used_at   timestamptz,
    revoked_at     timestamptz,
    client_address text,
    user_agent     text
);
CREATE INDEX sessions_user_id ON sessions (user_id);

-- Append-only. No foreign keys: events outlive the rows they speak of.
CREATE TABLE audit_events (
    id              uuid PRIMARY KEY,
    occurred_at     timestamptz NOT NULL,
    actor_user_id   uuid,
    action          text NOT NULL,
    target_type     text,
    target_id       text,
    organization_id uuid,
    client_address  text,
    outcome         text NOT NULL CHECK (outcome IN ('SUCCESS', 'FAILURE')),
    detail          jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at);
CREATE INDEX audit_events_actor ON audit_events (actor_user_id, occurred_at);
-- An organization's trail, newest first, and its count.
CREATE INDEX audit_events_organization ON audit_events (organization_id, occurred_at);
