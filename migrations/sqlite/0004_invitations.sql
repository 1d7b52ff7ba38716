-- Invitations into organizations, and the single-use links sent by e-mail (invitations,
-- e-mail validation, password reset). A link's token is stored only as its SHA-256 hash.

CREATE TABLE invitations (
    id              BLOB PRIMARY KEY NOT NULL,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    user_id         BLOB NOT NULL REFERENCES users (id),
    -- NULL when the inviter is gone or the invitation came from the console.
    invited_by      BLOB REFERENCES users (id),
    -- EXPIRED is not stored: a PENDING invitation whose link is past expires_at is expired.
    status          TEXT NOT NULL CHECK (status IN ('PENDING', 'ACCEPTED', 'REVOKED')),
    language        TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    -- When the newest link of this invitation stops working.
    expires_at      TEXT NOT NULL,
    accepted_at     TEXT,
    revoked_at      TEXT
);
CREATE INDEX invitations_organization ON invitations (organization_id, status, id);
CREATE INDEX invitations_user ON invitations (user_id);

CREATE TABLE links (
    id            BLOB PRIMARY KEY NOT NULL,
    user_id       BLOB NOT NULL REFERENCES users (id),
    purpose       TEXT NOT NULL CHECK (purpose IN ('INVITATION', 'EMAIL_VALIDATION', 'PASSWORD_RESET')),
    token_hash    TEXT NOT NULL UNIQUE,
    invitation_id BLOB REFERENCES invitations (id),
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    used_at       TEXT,
    -- Set when a newer link replaces this one or its invitation is revoked.
    revoked_at    TEXT
);
CREATE INDEX links_user_purpose ON links (user_id, purpose);
CREATE INDEX links_invitation ON links (invitation_id);
