-- Invitations into organizations, and the single-use links sent by e-mail (invitations,
-- e-mail validation, password reset). A link's token is stored only as its SHA-256 hash.

CREATE TABLE invitations (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    user_id         uuid NOT NULL REFERENCES users (id),
    -- NULL when the inviter is gone or the invitation came from the console.
    invited_by      uuid REFERENCES users (id),
    -- EXPIRED is not stored: a PENDING invitation whose link is past expires_at is expired.
    status          text NOT NULL CHECK (status IN ('PENDING', 'ACCEPTED', 'REVOKED')),
    language        text NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    -- When the newest link of this invitation stops working.
    expires_at      timestamptz NOT NULL,
    accepted_at     timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX invitations_organization ON invitations (organization_id, status, id);
CREATE INDEX invitations_user ON invitations (user_id);

CREATE TABLE links (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id),
    purpose       text NOT NULL CHECK (purpose IN ('INVITATION', 'EMAIL_VALIDATION', 'PASSWORD_RESET')),
    token_hash    text NOT NULL UNIQUE,
    invitation_id uuid REFERENCES invitations (id),
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz,
    -- Set when a newer link replaces this one or its invitation is revoked.
    revoked_at    timestamptz
);
CREATE INDEX links_user_purpose ON links (user_id, purpose);
CREATE INDEX links_invitation ON links (invitation_id);
