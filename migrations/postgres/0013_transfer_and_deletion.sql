-- Ownership transfer, sharing and deletion. The same tables and columns as
-- migrations/sqlite/0013_transfer_and_deletion.sql, with PostgreSQL's native types.

CREATE TABLE resource_transfers (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    -- NULL when the resource had no owner.
    from_user_id    uuid REFERENCES users (id),
    to_user_id      uuid NOT NULL REFERENCES users (id),
    reason          text NOT NULL CHECK (reason IN ('TRANSFER', 'USER_DELETED', 'MEMBERSHIP_REMOVED')),
    -- NULL when Steward itself moved them (a purge after a self-service deletion).
    initiated_by    uuid REFERENCES users (id),
    resource_count  bigint NOT NULL,
    at              timestamptz NOT NULL
);
CREATE INDEX resource_transfers_to ON resource_transfers (to_user_id, id);

-- NULL exactly for resources of application-level kinds.
ALTER TABLE resources ALTER COLUMN owner_user_id DROP NOT NULL;
ALTER TABLE resources ADD COLUMN last_transfer_id uuid REFERENCES resource_transfers (id);
ALTER TABLE resources ADD COLUMN deleted_at timestamptz;

-- Which resources a transfer moved, and whether it disabled them first (schedules).
CREATE TABLE resource_transfer_items (
    transfer_id uuid NOT NULL REFERENCES resource_transfers (id),
    resource_id uuid NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    disabled    boolean NOT NULL,
    PRIMARY KEY (transfer_id, resource_id)
);
CREATE INDEX resource_transfer_items_resource ON resource_transfer_items (resource_id);

-- A resource shared with a user or with a group, read-only or read-write. NULLs are distinct
-- in unique constraints on both databases, so each pair below is "shared once".
CREATE TABLE resource_shares (
    resource_id uuid NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    user_id     uuid REFERENCES users (id),
    group_id    uuid REFERENCES groups (id),
    access      text NOT NULL CHECK (access IN ('READ', 'WRITE')),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CHECK ((user_id IS NULL) <> (group_id IS NULL)),
    UNIQUE (resource_id, user_id),
    UNIQUE (resource_id, group_id)
);
CREATE INDEX resource_shares_user ON resource_shares (user_id);
CREATE INDEX resource_shares_group ON resource_shares (group_id);

-- Deletion: when it was asked for and why (self-service), when the tombstone was made.
ALTER TABLE users ADD COLUMN deletion_requested_at timestamptz;
ALTER TABLE users ADD COLUMN deletion_justification text;
ALTER TABLE users ADD COLUMN deleted_at timestamptz;

-- What keeps a pending deletion from being carried out (billing, say), until released.
CREATE TABLE deletion_holds (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id),
    reason      text NOT NULL,
    placed_by   uuid NOT NULL REFERENCES users (id),
    placed_at   timestamptz NOT NULL,
    released_by uuid REFERENCES users (id),
    released_at timestamptz
);
CREATE INDEX deletion_holds_user ON deletion_holds (user_id, released_at);

ALTER TABLE organizations ADD COLUMN deleted_at timestamptz;
