-- Tiga Pilar schema, version 5: every warehouse on its own (issue 18). The same tables as
-- server/storage/sqlite/migrations/0005_per_warehouse.sql, which says what each is for.
--
-- No lock, row or sequence is shared by pushes to different warehouses: a push locks the
-- warehouse_state rows of the warehouses it writes (FOR UPDATE, in sorted order) and its client's
-- client_state row; a chain is appended only by a holder of its warehouse's row ('' : the system
-- chain). docs/postgres.md, "Per-warehouse sequencing".

CREATE TABLE warehouse_state (
    warehouse_id       TEXT PRIMARY KEY,
    revision           BIGINT NOT NULL,
    tombstone_horizon  BIGINT NOT NULL,
    audit_id           BIGINT NOT NULL,
    audit_hash         TEXT NOT NULL,
    audit_at           TEXT NOT NULL
);

INSERT INTO warehouse_state (warehouse_id, revision, tombstone_horizon, audit_id, audit_hash, audit_at)
SELECT w.warehouse_id,
       GREATEST(COALESCE((SELECT max(r.revision) FROM records AS r WHERE r.warehouse_id = w.warehouse_id), 0),
                (SELECT tombstone_horizon FROM sync_meta WHERE id = 1)),
       (SELECT tombstone_horizon FROM sync_meta WHERE id = 1),
       0, '0000000000000000000000000000000000000000000000000000000000000000', ''
FROM (SELECT id AS warehouse_id FROM warehouses UNION SELECT warehouse_id FROM records) AS w;

DROP TABLE sync_meta;

ALTER TABLE records DROP CONSTRAINT records_pkey;
ALTER TABLE records ADD PRIMARY KEY (warehouse_id, id);
CREATE UNIQUE INDEX records_id ON records (id);
DROP INDEX records_feed;
CREATE UNIQUE INDEX records_feed ON records (warehouse_id, revision);

ALTER TABLE attachment_refs ADD COLUMN warehouse_id TEXT NOT NULL DEFAULT '';
UPDATE attachment_refs SET warehouse_id = COALESCE(
    (SELECT r.warehouse_id FROM records AS r WHERE r.id = attachment_refs.record_id), '');
ALTER TABLE attachment_refs DROP CONSTRAINT attachment_refs_pkey;
ALTER TABLE attachment_refs ADD PRIMARY KEY (warehouse_id, sha256, record_id, client_id);
CREATE INDEX attachment_refs_sha256 ON attachment_refs (sha256);

ALTER TABLE audit_log ADD COLUMN chain TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ALTER COLUMN id DROP IDENTITY IF EXISTS;
ALTER TABLE audit_log DROP CONSTRAINT audit_log_pkey;
ALTER TABLE audit_log ADD PRIMARY KEY (chain, id);
DROP INDEX audit_warehouse;
CREATE INDEX audit_warehouse ON audit_log (warehouse_id, at);
CREATE INDEX audit_at ON audit_log (at);

INSERT INTO warehouse_state (warehouse_id, revision, tombstone_horizon, audit_id, audit_hash, audit_at)
SELECT '', 0, 0,
       COALESCE((SELECT id FROM audit_log WHERE chain = '' ORDER BY id DESC LIMIT 1), 0),
       COALESCE((SELECT hash FROM audit_log WHERE chain = '' ORDER BY id DESC LIMIT 1),
                '0000000000000000000000000000000000000000000000000000000000000000'),
       COALESCE((SELECT at FROM audit_log WHERE chain = '' ORDER BY id DESC LIMIT 1), '')
ON CONFLICT (warehouse_id) DO UPDATE SET audit_id = excluded.audit_id, audit_hash = excluded.audit_hash,
    audit_at = excluded.audit_at;

-- The heads each signed checkpoint's Merkle root covers (server/checkpoints.py, format 3), as JSON
-- {chain: [id, hash]}: `audit verify` recomputes the signed root from them, `audit prove` makes an
-- inclusion proof of one chain's head. One row per checkpoint.
CREATE TABLE audit_roots (
    root    TEXT PRIMARY KEY,
    at      TEXT NOT NULL,
    heads   TEXT NOT NULL
);
