-- Notifications: the transactional outbox and the local mailbox.
--
-- A notification row is written in the same transaction as the change that caused it, with a
-- snapshot of its recipient (address, name, language), so a later change to the user cannot
-- redirect or re-word a message already promised. Delivery workers claim due rows with a
-- lease (claimed_until, claim_token): a worker that dies leaves a lease that expires, and a
-- worker whose lease was taken over cannot mark the row (every update checks claim_token).

CREATE TABLE notifications (
    id                BLOB PRIMARY KEY NOT NULL,
    kind              TEXT NOT NULL,
    recipient_user_id BLOB,
    recipient_address TEXT NOT NULL,
    recipient_name    TEXT NOT NULL,
    language          TEXT NOT NULL,
    payload           TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('PENDING', 'SENT', 'FAILED')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   TEXT NOT NULL,
    claimed_until     TEXT,
    claim_token       BLOB,
    last_error        TEXT,
    -- 'SMTP' or 'MAILBOX': where a sent message went.
    delivered_via     TEXT,
    created_at        TEXT NOT NULL,
    sent_at           TEXT
);
-- What workers scan: due pending rows, oldest due first.
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
CREATE INDEX notifications_recipient ON notifications (recipient_user_id, created_at);

-- The embedded default's mailbox: messages delivered without an SMTP server, as rendered.
CREATE TABLE mailbox (
    id                BLOB PRIMARY KEY NOT NULL REFERENCES notifications (id),
    message_id        TEXT NOT NULL,
    recipient_address TEXT NOT NULL,
    subject           TEXT NOT NULL,
    text_body         TEXT NOT NULL,
    html_body         TEXT NOT NULL,
    delivered_at      TEXT NOT NULL
);
CREATE INDEX mailbox_recipient ON mailbox (recipient_address, delivered_at);
