-- Ownership transfer, sharing and deletion.
--
-- Resources are rebuilt (SQLite cannot drop NOT NULL in place): a resource of an
-- application-level kind has no owner, an organization's deletion marks its resources
-- deleted, and a resource remembers the transfer that last moved it, so a new owner can list
-- what was transferred to them.

CREATE TABLE resource_transfers (
    id              BLOB PRIMARY KEY NOT NULL,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    -- NULL when the resource had no owner.
    from_user_id    BLOB REFERENCES users (id),
    to_user_id      BLOB NOT NULL REFERENCES users (id),
    reason          TEXT NOT NULL CHECK (reason IN ('TRANSFER', 'USER_DELETED', 'MEMBERSHIP_REMOVED')),
    -- NULL when Steward itself moved them (a purge after a self-service deletion).
    initiated_by    BLOB REFERENCES users (id),
    resource_count  INTEGER NOT NULL,
    at              TEXT NOT NULL
);
CREATE INDEX resource_transfers_to ON resource_transfers (to_user_id, id);

CREATE TABLE resources_rebuilt (
    id               BLOB PRIMARY KEY NOT NULL,
    kind             TEXT NOT NULL REFERENCES resource_kinds (code),
    name             TEXT NOT NULL,
    -- The registering service's own id; (kind, external_id) makes registration idempotent.
    external_id      TEXT NOT NULL,
    organization_id  BLOB NOT NULL REFERENCES organizations (id),
    project_id       BLOB REFERENCES projects (id),
    -- NULL exactly for resources of application-level kinds.
    owner_user_id    BLOB REFERENCES users (id),
    enabled          INTEGER NOT NULL,
    last_transfer_id BLOB REFERENCES resource_transfers (id),
    deleted_at       TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (kind, external_id)
);
INSERT INTO resources_rebuilt (id, kind, name, external_id, organization_id, project_id,
    owner_user_id, enabled, last_transfer_id, deleted_at, created_at, updated_at)
SELECT id, kind, name, external_id, organization_id, project_id, owner_user_id, enabled, NULL,
    NULL, created_at, updated_at
FROM resources;
DROP TABLE resources;
ALTER TABLE resources_rebuilt RENAME TO resources;
CREATE INDEX resources_owner ON resources (owner_user_id, kind, id);
CREATE INDEX resources_organization ON resources (organization_id, id);

-- Which resources a transfer moved, and whether it disabled them first (schedules).
CREATE TABLE resource_transfer_items (
    transfer_id BLOB NOT NULL REFERENCES resource_transfers (id),
    resource_id BLOB NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    disabled    INTEGER NOT NULL,
    PRIMARY KEY (transfer_id, resource_id)
);
CREATE INDEX resource_transfer_items_resource ON resource_transfer_items (resource_id);

-- A resource shared with a user or with a group, read-only or read-write. NULLs are distinct
-- in unique constraints on both databases, so each pair below is "shared once".
CREATE TABLE resource_shares (
    resource_id BLOB NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    user_id     BLOB REFERENCES users (id),
    group_id    BLOB REFERENCES groups (id),
    access      TEXT NOT NULL CHECK (access IN ('READ', 'WRITE')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CHECK ((user_id IS NULL) <> (group_id IS NULL)),
    UNIQUE (resource_id, user_id),
    UNIQUE (resource_id, group_id)
);
CREATE INDEX resource_shares_user ON resource_shares (user_id);
CREATE INDEX resource_shares_group ON resource_shares (group_id);

-- Deletion: when it was asked for and why (self-service), when the tombstone was made.
ALTER TABLE users ADD COLUMN deletion_requested_at TEXT;
ALTER TABLE users ADD COLUMN deletion_justification TEXT;
ALTER TABLE users ADD COLUMN deleted_at TEXT;

-- What keeps a pending deletion from being carried out (billing, say), until released.
CREATE TABLE deletion_holds (
    id          BLOB PRIMARY KEY NOT NULL,
    user_id     BLOB NOT NULL REFERENCES users (id),
    reason      TEXT NOT NULL,
    placed_by   BLOB NOT NULL REFERENCES users (id),
    placed_at   TEXT NOT NULL,
    released_by BLOB REFERENCES users (id),
    released_at TEXT
);
CREATE INDEX deletion_holds_user ON deletion_holds (user_id, released_at);

ALTER TABLE organizations ADD COLUMN deleted_at TEXT;
