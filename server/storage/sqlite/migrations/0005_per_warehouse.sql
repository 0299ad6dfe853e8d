-- Tiga Pilar schema, version 5: every warehouse on its own (issue 18).
--
-- Revisions are counted per warehouse, the audit log is one hash chain per warehouse plus the
-- system chain, and every table that grows with the data has its warehouse in its primary key
-- (docs/postgres.md, "Beyond one PostgreSQL server"). SQLite keeps one writer; the model, and so
-- the engine's path, is the one PostgreSQL uses with many.

-- One row per warehouse (and '' for the system): its revision counter, its tombstone horizon and
-- the head of its audit chain. A PostgreSQL push locks the rows of the warehouses it writes.
CREATE TABLE warehouse_state (
    warehouse_id       TEXT PRIMARY KEY,
    revision           INTEGER NOT NULL,
    tombstone_horizon  INTEGER NOT NULL,
    audit_id           INTEGER NOT NULL,
    audit_hash         TEXT NOT NULL,
    audit_at           TEXT NOT NULL
);

-- Phones keep their cursors and base revisions: each counter starts at its warehouse's highest
-- revision, and never below the old horizon (so a revision handed out from now on is above every
-- purged one, and the old horizon still tells which cursors must reset).
INSERT INTO warehouse_state (warehouse_id, revision, tombstone_horizon, audit_id, audit_hash, audit_at)
SELECT w.warehouse_id,
       max(COALESCE((SELECT max(r.revision) FROM records AS r WHERE r.warehouse_id = w.warehouse_id), 0),
           (SELECT tombstone_horizon FROM sync_meta WHERE id = 1)),
       (SELECT tombstone_horizon FROM sync_meta WHERE id = 1),
       0, '0000000000000000000000000000000000000000000000000000000000000000', ''
FROM (SELECT id AS warehouse_id FROM warehouses UNION SELECT warehouse_id FROM records) AS w;

DROP TABLE sync_meta;

-- Records: keyed by warehouse first. Ids stay unique on one server (the engine reads by id).
CREATE TABLE records_v4 (
    id            TEXT NOT NULL,
    collection    TEXT NOT NULL,
    warehouse_id  TEXT NOT NULL,
    revision      INTEGER NOT NULL,
    fields        TEXT NOT NULL,
    field_revs    TEXT NOT NULL,
    field_hlcs    TEXT NOT NULL,
    field_by      TEXT NOT NULL DEFAULT '{}',
    deleted       INTEGER NOT NULL DEFAULT 0,
    created_by    TEXT NOT NULL DEFAULT '',
    updated_by    TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL DEFAULT '',
    updated_at    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (warehouse_id, id)
);
INSERT INTO records_v4 SELECT id, collection, warehouse_id, revision, fields, field_revs, field_hlcs,
    field_by, deleted, created_by, updated_by, created_at, updated_at FROM records;
DROP TABLE records;
ALTER TABLE records_v4 RENAME TO records;
CREATE UNIQUE INDEX records_id ON records (id);
CREATE UNIQUE INDEX records_feed ON records (warehouse_id, revision);

-- Photo references carry the warehouse of the record that references the photo.
CREATE TABLE attachment_refs_v4 (
    sha256        TEXT NOT NULL,
    record_id     TEXT NOT NULL,
    client_id     TEXT NOT NULL,
    user_id       TEXT NOT NULL DEFAULT '',
    warehouse_id  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (warehouse_id, sha256, record_id, client_id)
) WITHOUT ROWID;
INSERT INTO attachment_refs_v4 (sha256, record_id, client_id, user_id, warehouse_id)
SELECT a.sha256, a.record_id, a.client_id, a.user_id,
       COALESCE((SELECT r.warehouse_id FROM records AS r WHERE r.id = a.record_id), '')
FROM attachment_refs AS a;
DROP TABLE attachment_refs;
ALTER TABLE attachment_refs_v4 RENAME TO attachment_refs;
CREATE INDEX attachment_refs_client ON attachment_refs (client_id);
CREATE INDEX attachment_refs_sha256 ON attachment_refs (sha256);

-- The audit log: one chain per warehouse (`chain` = its id) and the system chain (''), each
-- numbered from 1. Every entry written so far is the beginning of the system chain, unchanged, so
-- its hashes, published heads and signed checkpoints stay valid.
CREATE TABLE audit_log_v4 (
    id            INTEGER NOT NULL,
    at            TEXT NOT NULL,
    kind          TEXT NOT NULL,
    actor_id      TEXT NOT NULL,
    actor_agency  TEXT NOT NULL,
    device        TEXT NOT NULL,
    warehouse_id  TEXT,
    subject       TEXT NOT NULL,
    detail        TEXT NOT NULL,
    content       BLOB NOT NULL,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL,
    chain         TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (chain, id)
);
INSERT INTO audit_log_v4 (id, at, kind, actor_id, actor_agency, device, warehouse_id, subject, detail,
    content, prev_hash, hash, chain)
SELECT id, at, kind, actor_id, actor_agency, device, warehouse_id, subject, detail, content, prev_hash,
    hash, '' FROM audit_log;
DROP TABLE audit_log;
ALTER TABLE audit_log_v4 RENAME TO audit_log;
CREATE INDEX audit_warehouse ON audit_log (warehouse_id, at);
CREATE INDEX audit_at ON audit_log (at);

INSERT INTO warehouse_state (warehouse_id, revision, tombstone_horizon, audit_id, audit_hash, audit_at)
SELECT '', 0, 0,
       COALESCE((SELECT id FROM audit_log WHERE chain = '' ORDER BY id DESC LIMIT 1), 0),
       COALESCE((SELECT hash FROM audit_log WHERE chain = '' ORDER BY id DESC LIMIT 1),
                '0000000000000000000000000000000000000000000000000000000000000000'),
       COALESCE((SELECT at FROM audit_log WHERE chain = '' ORDER BY id DESC LIMIT 1), '')
WHERE NOT EXISTS (SELECT 1 FROM warehouse_state WHERE warehouse_id = '');

-- The heads each signed checkpoint's Merkle root covers (server/checkpoints.py, format 3), as JSON
-- {chain: [id, hash]}: `audit verify` recomputes the signed root from them, `audit prove` makes an
-- inclusion proof of one chain's head. One row per checkpoint.
CREATE TABLE audit_roots (
    root    TEXT PRIMARY KEY,
    at      TEXT NOT NULL,
    heads   TEXT NOT NULL
);
