-- Tiga Pilar schema, version 8: an audit entry's detail is stored once, in its hashed content.
--
-- audit_log.detail was a copy of the `detail` that every entry's `content` (the bytes its hash
-- covers, in every hash format) already holds: ~400 of the ~3,100 bytes a created mutation adds
-- to the database. Readers take the detail from the content (server/storage/rows.py), so what the
-- supervisor's audit view shows is exactly what the chain vouches for; `tigapilar audit verify`
-- still checks the other columns against the content. No audited fact is lost: the dropped column
-- held nothing the content does not.
ALTER TABLE audit_log DROP COLUMN detail;
