-- The users listing of an organization (`users` in the API): sorted by creation, username,
-- e-mail address, name or last login, paged by keyset (sort key, then id), and searched by
-- prefix of the lower-case username, e-mail address and name.
--
-- Prefix search is a range on a lower-case column (`col >= 'ab' AND col < 'ab' || U+10FFFF`),
-- which an ordinary index answers on both databases; SQLite compares TEXT byte by byte, so
-- the range holds exactly the values that start with the prefix. The lower-case name is a
-- generated column, so every writer of `full_name` keeps it right without knowing of it.
-- (SQLite's lower() folds ASCII letters only; the search term goes through the same lower().)

ALTER TABLE users ADD COLUMN full_name_normalized TEXT GENERATED ALWAYS AS (lower(full_name)) VIRTUAL;

-- One index per sort order, the id last so that a page boundary is one index position.
-- The username and e-mail indexes double as the prefix-search indexes.
CREATE INDEX users_created_at_id ON users (created_at, id);
CREATE INDEX users_username_id ON users (username_normalized, id);
CREATE INDEX users_email_id ON users (email_normalized, id);
CREATE INDEX users_full_name_id ON users (full_name_normalized, id);
-- NULL (never logged in) sorts first, as SQLite always sorts it.
CREATE INDEX users_last_login_at_id ON users (last_login_at, id);
