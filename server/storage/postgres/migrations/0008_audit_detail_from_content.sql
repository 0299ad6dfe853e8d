-- Tiga Pilar schema, version 8 (PostgreSQL): an audit entry's detail is stored once, in its hashed
-- content. Kept in step with server/storage/sqlite/migrations/0008_audit_detail_from_content.sql.
--
-- audit_log.detail was a copy of the `detail` that every entry's `content` (the bytes its hash
-- covers, in every hash format) already holds: ~400 of the ~3,100 bytes a created mutation adds.
-- Readers take the detail from the content (server/storage/rows.py). Dropping a column does not
-- rewrite the table: older rows keep their bytes until they are rewritten (VACUUM FULL), new rows
-- no longer carry them.
ALTER TABLE audit_log DROP COLUMN detail;

-- The supervisor's audit search matches the detail as the content holds it (its JSON text), and
-- must not fail on a row whose content was tampered into something else (verify reports that).
CREATE FUNCTION audit_detail(content bytea) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
    RETURN (convert_from(content, 'UTF8')::json -> 'detail')::text;
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;
END
$$;
