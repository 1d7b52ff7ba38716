-- Notifications: the transactional outbox and the local mailbox.
--
-- A notification row is written in the same transaction as the change that caused it, with a
-- snapshot of its recipient (address, name, language), so a later change to the user cannot
-- redirect or re-word a message already promised. Delivery workers claim due rows with
-- FOR UPDATE SKIP LOCKED and a lease (claimed_until, claim_token): several instances never
-- claim the same row, a worker that dies leaves a lease that expires, and a worker whose lease
-- was taken over cannot mark the row (every update checks claim_token).

CREATE TABLE notifications (
    id                uuid PRIMARY KEY,
    kind              text NOT NULL,
    recipient_user_id uuid,
    recipient_address text NOT NULL,
    recipient_name    text NOT NULL,
    language          text NOT NULL,
    payload           jsonb NOT NULL,
    status            text NOT NULL CHECK (status IN ('PENDING', 'SENT', 'FAILED')),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL,
    claimed_until     timestamptz,
    claim_token       uuid,
    last_error        text,
    -- 'SMTP' or 'MAILBOX': where a sent message went.
    delivered_via     text,
    created_at        timestamptz NOT NULL,
    sent_at           timestamptz
);
-- What workers scan: due pending rows, oldest due first.
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
CREATE INDEX notifications_recipient ON notifications (recipient_user_id, created_at);

-- The embedded default's mailbox: messages delivered without an SMTP server, as rendered.
CREATE TABLE mailbox (
    id                uuid PRIMARY KEY REFERENCES notifications (id),
    message_id        text NOT NULL,
    recipient_address text NOT NULL,
    subject           text NOT NULL,
    text_body         text NOT NULL,
    html_body         text NOT NULL,
    delivered_at      timestamptz NOT NULL
);
CREATE INDEX mailbox_recipient ON mailbox (recipient_address, delivered_at);
