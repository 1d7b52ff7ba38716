-- SSH public keys users register for the platform's SSH tunnel service. A key belongs to one
-- account on the whole platform: the tunnel service finds the account by the key's
-- fingerprint, so the fingerprint is unique across all users, not per user.
CREATE TABLE ssh_keys (
    id           BLOB PRIMARY KEY NOT NULL,
    user_id      BLOB NOT NULL REFERENCES users (id),
    title        TEXT NOT NULL,
    -- The OpenSSH name: ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa.
    algorithm    TEXT NOT NULL,
    -- "ALGORITHM BASE64", without the comment.
    public_key   TEXT NOT NULL,
    -- SHA256:... as ssh-keygen -l prints it.
    fingerprint  TEXT NOT NULL UNIQUE,
    bits         INTEGER NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT
);

CREATE INDEX ssh_keys_user ON ssh_keys (user_id, created_at);
