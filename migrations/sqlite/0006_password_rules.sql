-- Password composition rules an organization imposes on its members (all off by default; an
-- organization without a row has none).
CREATE TABLE organization_password_rules (
    organization_id   BLOB PRIMARY KEY NOT NULL REFERENCES organizations (id),
    require_lowercase INTEGER NOT NULL DEFAULT 0,
    require_uppercase INTEGER NOT NULL DEFAULT 0,
    require_digit     INTEGER NOT NULL DEFAULT 0,
    require_symbol    INTEGER NOT NULL DEFAULT 0,
    -- NULL: the platform's minimum.
    min_length        INTEGER,
    updated_at        TEXT NOT NULL
);
