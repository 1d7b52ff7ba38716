-- Two-factor authentication (TOTP, RFC 6238). The shared secret is encrypted with AES-256-GCM
-- under the server's secret key (STEWARD_SECRET_KEY), never stored in clear: a copy of the
-- database alone does not give anyone the codes. A row without confirmed_at is an enrolment
-- waiting for its first code; users.mfa_enabled is true once it is confirmed.
CREATE TABLE user_totp (
    user_id           BLOB PRIMARY KEY NOT NULL REFERENCES users (id),
    secret_ciphertext BLOB NOT NULL,
    nonce             BLOB NOT NULL,
    confirmed_at      TEXT,
    -- The last time step whose code was accepted: a code is accepted once, so that a code
    -- seen over someone's shoulder cannot be used again within its 30 seconds.
    last_used_step    INTEGER,
    created_at        TEXT NOT NULL
);

-- Single-use recovery codes, for a lost authenticator. Only an argon2id hash is kept (the
-- codes have about 50 bits of entropy, so a fast hash could be searched).
CREATE TABLE recovery_codes (
    id         BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users (id),
    code_hash  TEXT NOT NULL,
    used_at    TEXT
);

CREATE INDEX recovery_codes_user ON recovery_codes (user_id);
