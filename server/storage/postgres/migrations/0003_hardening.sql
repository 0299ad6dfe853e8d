-- Tiga Pilar schema, version 3 (PostgreSQL): hardening. Kept in step with
-- server/storage/sqlite/migrations/0003_hardening.sql.
--
-- A photo keeps what its one decode found (server/images.py): its dimensions. NULL for photos
-- stored before uploads were decoded in a worker; their thumbnail is made the first time it is
-- asked for.
ALTER TABLE attachments ADD COLUMN width INTEGER;
ALTER TABLE attachments ADD COLUMN height INTEGER;

-- Who referenced a photo: a photo is readable through a record only where its uploader referenced
-- it (server/api/attachments.py), so knowing a hash is not a key to it. Existing references take
-- the user of their client: from any outcome the client's pushes stored (a client id belongs to
-- one user), else from its devices.
ALTER TABLE attachment_refs ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
UPDATE attachment_refs SET user_id = COALESCE(
    (SELECT o.user_id FROM outcomes AS o WHERE o.client_id = attachment_refs.client_id LIMIT 1),
    (SELECT d.user_id FROM devices AS d WHERE d.client_id = attachment_refs.client_id LIMIT 1),
    ''
);

-- Facts about the database itself, one row each. `demo`: made by `tigapilar seed-demo` on a
-- database without accounts (seed-demo refuses any other).
CREATE TABLE database_marks (
    name    TEXT PRIMARY KEY,
    value   TEXT NOT NULL,
    set_at  TEXT NOT NULL
);

-- Failed logins are now counted per (account, address), per address and per account
-- (server/auth.py, LoginThrottle); per-username lockouts of the old policy no longer apply.
DELETE FROM login_failures WHERE key LIKE 'user:%';
