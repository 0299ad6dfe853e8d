-- Tiga Pilar schema, version 1 (PostgreSQL). Kept in step with
-- server/storage/sqlite/migrations/0001_initial.sql: the same tables, columns and meaning, so
-- server/storage/copy.py can move a SQLite database here column by column.
--
-- Type mapping: SQLite INTEGER flags -> BOOLEAN, INTEGER numbers -> BIGINT, BLOB -> BYTEA.
-- JSON columns stay TEXT (exactly the bytes msgspec wrote: copied byte for byte, and "\u0000"
-- escapes are fine in TEXT where JSONB refuses them).
-- Text that the server sorts or compares is compared with COLLATE "C" in the queries, which is
-- SQLite's BINARY order whatever the database's locale.

CREATE TABLE warehouses (
    id          TEXT PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    address     TEXT NOT NULL DEFAULT '',
    kelurahan   TEXT NOT NULL DEFAULT '',
    kecamatan   TEXT NOT NULL DEFAULT '',
    kota        TEXT NOT NULL DEFAULT '',
    floor_room  TEXT NOT NULL DEFAULT '',
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  TEXT NOT NULL
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL,
    full_name      TEXT NOT NULL,
    agency         TEXT NOT NULL,
    rank           TEXT NOT NULL DEFAULT '',
    id_number      TEXT NOT NULL DEFAULT '',
    role           TEXT NOT NULL CHECK (role IN ('officer', 'supervisor', 'admin')),
    password_hash  TEXT NOT NULL,
    disabled       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
-- Usernames are unique ignoring ASCII case, like SQLite's COLLATE NOCASE: lower() under the "C"
-- collation folds A-Z only.
CREATE UNIQUE INDEX users_username ON users (lower(username COLLATE "C"));

CREATE TABLE assignments (
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    warehouse_id  TEXT NOT NULL REFERENCES warehouses(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, warehouse_id)
);
CREATE INDEX assignments_warehouse ON assignments (warehouse_id);

-- One row per logged-in device. Only the SHA-256 of the bearer token is stored.
CREATE TABLE devices (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX devices_user ON devices (user_id);
CREATE INDEX devices_client ON devices (client_id);

CREATE TABLE templates (
    id          TEXT PRIMARY KEY,
    code        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    title       TEXT NOT NULL,
    published   BOOLEAN NOT NULL DEFAULT TRUE,
    body        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (code, version)
);

CREATE TABLE stock_item_types (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    unit        TEXT NOT NULL,
    sort_order  BIGINT NOT NULL DEFAULT 0,
    active      BOOLEAN NOT NULL DEFAULT TRUE
);

-- Synced records of every collection.
CREATE TABLE records (
    id            TEXT PRIMARY KEY,
    collection    TEXT NOT NULL,
    warehouse_id  TEXT NOT NULL,
    revision      BIGINT NOT NULL,
    fields        TEXT NOT NULL,
    field_revs    TEXT NOT NULL,
    field_hlcs    TEXT NOT NULL,
    field_by      TEXT NOT NULL DEFAULT '{}',
    deleted       BOOLEAN NOT NULL DEFAULT FALSE,
    created_by    TEXT NOT NULL DEFAULT '',
    updated_by    TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL DEFAULT '',
    updated_at    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX records_feed ON records (warehouse_id, revision);

-- The last mutation number the server holds from each client.
CREATE TABLE client_state (
    client_id   TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    last_seq    BIGINT NOT NULL,
    updated_at  TEXT NOT NULL DEFAULT ''
);

-- The answer to every mutation, so a retried push is answered identically.
CREATE TABLE outcomes (
    client_id     TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    user_id       TEXT NOT NULL,
    warehouse_id  TEXT,
    collection    TEXT NOT NULL,
    record_id     TEXT NOT NULL,
    op            TEXT NOT NULL,
    status        TEXT NOT NULL,
    revision      BIGINT,
    result        TEXT NOT NULL,
    mutation      BYTEA NOT NULL,
    at            TEXT NOT NULL,
    PRIMARY KEY (client_id, seq)
);
CREATE INDEX outcomes_rejected ON outcomes (warehouse_id, status);

CREATE TABLE digests (
    warehouse_id  TEXT PRIMARY KEY,
    count         BIGINT NOT NULL,
    checksum      TEXT NOT NULL
);

-- Exactly one row: the revision counter and the tombstone horizon. Only read and moved by a
-- transaction holding the sync advisory lock (server/storage/postgres/storage.py).
CREATE TABLE sync_meta (
    id                 INTEGER PRIMARY KEY CHECK (id = 1),
    revision           BIGINT NOT NULL,
    tombstone_horizon  BIGINT NOT NULL
);
INSERT INTO sync_meta (id, revision, tombstone_horizon) VALUES (1, 0, 0);

CREATE TABLE attachments (
    sha256       TEXT PRIMARY KEY,
    size         BIGINT NOT NULL,
    mime         TEXT NOT NULL,
    path         TEXT NOT NULL,
    uploaded_by  TEXT NOT NULL,
    created_at   TEXT NOT NULL
);

CREATE TABLE attachment_refs (
    sha256     TEXT NOT NULL,
    record_id  TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    PRIMARY KEY (sha256, record_id, client_id)
);
CREATE INDEX attachment_refs_client ON attachment_refs (client_id);

-- Tamper-evident log: `content` holds the canonical bytes that `hash` covers (sync.audit).
-- Appended only under the audit advisory lock, with the previous hash read in the same transaction.
CREATE TABLE audit_log (
    id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    at            TEXT NOT NULL,
    kind          TEXT NOT NULL,
    actor_id      TEXT NOT NULL,
    actor_agency  TEXT NOT NULL,
    device        TEXT NOT NULL,
    warehouse_id  TEXT,
    subject       TEXT NOT NULL,
    detail        TEXT NOT NULL,
    content       BYTEA NOT NULL,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL
);
CREATE INDEX audit_warehouse ON audit_log (warehouse_id, id);
