-- Steward's first schema: what the walking skeleton needs (organizations, users,
-- memberships, roles, role bindings, signing keys, sessions, audit events).
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

CREATE TABLE role_bindings (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    role_id         uuid NOT NULL REFERENCES roles (id),
    user_id         uuid NOT NULL REFERENCES users (id),
    created_at      timestamptz NOT NULL,
    UNIQUE (role_id, user_id)
);
CREATE INDEX role_bindings_user_id ON role_bindings (user_id);

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
