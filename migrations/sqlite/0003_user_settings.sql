-- Front-end settings a user keeps (preferences beyond language and e-mail subscription).
-- Bounded by the domain: short keys, values of at most 4 096 characters, 64 per user.
CREATE TABLE user_settings (
    user_id    BLOB NOT NULL REFERENCES users (id),
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
);
