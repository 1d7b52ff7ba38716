-- Refresh tokens. A session (one login) is a family of them: each refresh uses the current
-- token and issues the next. Only a token's SHA-256 is stored. A used token presented again
-- means it was copied: the whole session ends.
CREATE TABLE refresh_tokens (
    id         uuid PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions (id),
    token_hash text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
