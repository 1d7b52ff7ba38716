-- API keys: JWTs that act as their owner, optionally only in one organization with some of
-- the owner's roles. Only the SHA-256 of a key is stored, with its jti; regenerating a key
-- replaces both, so the old key stops at once.
CREATE TABLE api_keys (
    id              BLOB PRIMARY KEY NOT NULL,
    user_id         BLOB NOT NULL REFERENCES users (id),
    -- Who made it (the owner, or an administrator); NULL when that account is gone.
    created_by      BLOB REFERENCES users (id),
    name            TEXT NOT NULL,
    organization_id BLOB REFERENCES organizations (id),
    jti             TEXT NOT NULL UNIQUE,
    token_hash      TEXT NOT NULL UNIQUE,
    created_at      TEXT NOT NULL,
    expires_at      TEXT,
    last_used_at    TEXT,
    revoked_at      TEXT
);
CREATE INDEX api_keys_user ON api_keys (user_id);

-- The roles a key is limited to, in its organization; none: the owner's default role there.
CREATE TABLE api_key_roles (
    api_key_id BLOB NOT NULL REFERENCES api_keys (id),
    role_id    BLOB NOT NULL REFERENCES roles (id),
    PRIMARY KEY (api_key_id, role_id)
);
