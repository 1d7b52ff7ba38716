-- Password composition rules an organization imposes on its members (all off by default; an
-- organization without a row has none).
CREATE TABLE organization_password_rules (
    organization_id   uuid PRIMARY KEY REFERENCES organizations (id),
    require_lowercase boolean NOT NULL DEFAULT false,
    require_uppercase boolean NOT NULL DEFAULT false,
    require_digit     boolean NOT NULL DEFAULT false,
    require_symbol    boolean NOT NULL DEFAULT false,
    -- NULL: the platform's minimum.
    min_length        integer,
    updated_at        timestamptz NOT NULL
);
