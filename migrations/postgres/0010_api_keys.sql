-- API keys: JWTs that act as their owner, optionally only in one organization with some of
-- the owner's roles. Only the SHA-256 of a key is stored, with its jti; regenerating a key
-- replaces both, so the old key stops at once.
CREATE TABLE api_keys (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id),
    -- Who made it (the owner, or an administrator); NULL when that account is gone.
    created_by      uuid REFERENCES users (id),
    name            text NOT NULL,
    organization_id uuid REFERENCES organizations (id),
    jti             text NOT NULL UNIQUE,
    token_hash      text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz,
    last_used_at    timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX api_keys_user ON api_keys (user_id);

-- The roles a key is limited to, in its organization; none: the owner's default role there.
CREATE TABLE api_key_roles (
    api_key_id uuid NOT NULL REFERENCES api_keys (id),
    role_id    uuid NOT NULL REFERENCES roles (id),
    PRIMARY KEY (api_key_id, role_id)
);
