-- The users listing of an organization (`users` in the API): sorted by creation, username,
-- e-mail address, name or last login, paged by keyset (sort key, then id), and searched by
-- prefix of the lower-case username, e-mail address and name.
--
-- Prefix search is a range on a lower-case column (`col >= 'ab' AND col < 'ab' || U+10FFFF`),
-- the same SQL text as on SQLite. Under a linguistic collation (en_US.UTF-8, say) such a
-- range is not a prefix match and ORDER BY differs from SQLite's, so the lower-case columns
-- compare in "C" (byte, that is code point) order, as SQLite compares TEXT. Equality is byte
-- equality under either collation, so the unique constraints keep their meaning and names.
-- The lower-case name is a generated column, so every writer of `full_name` keeps it right.

ALTER TABLE users ALTER COLUMN username_normalized TYPE text COLLATE "C";
ALTER TABLE users ALTER COLUMN email_normalized TYPE text COLLATE "C";
ALTER TABLE users ADD COLUMN full_name_normalized text COLLATE "C"
    GENERATED ALWAYS AS (lower(full_name)) STORED;

-- One index per sort order, the id last so that a page boundary is one index position.
-- The username and e-mail indexes double as the prefix-search indexes.
CREATE INDEX users_created_at_id ON users (created_at, id);
CREATE INDEX users_username_id ON users (username_normalized, id);
CREATE INDEX users_email_id ON users (email_normalized, id);
CREATE INDEX users_full_name_id ON users (full_name_normalized, id);
-- NULL (never logged in) sorts first, as on SQLite; read backwards for the newest logins.
CREATE INDEX users_last_login_at_id ON users (last_login_at NULLS FIRST, id);
