-- Tiga Pilar schema, version 6 (PostgreSQL): berita acara numbers, and devices by the name officers
-- give them. Kept in step with server/storage/sqlite/migrations/0006_report_numbers_and_device_names.sql.
--
-- One counter row per (warehouse, year): the last berita acara number given there (sync.ops,
-- submit_inspection, inside the push transaction, which holds the warehouse's lock, its
-- warehouse_state row, until it commits: no other server process gives a number of that warehouse
-- meanwhile).
-- warehouse_id leads the key: no row or lock is shared by two warehouses.
CREATE TABLE report_counters (
    warehouse_id  TEXT NOT NULL,
    year          INTEGER NOT NULL,
    last          INTEGER NOT NULL CHECK (last >= 0),
    PRIMARY KEY (warehouse_id, year)
);

-- The model the phone's browser reports, beside the name its officer gave it at login (`name`,
-- editable by an admin).
ALTER TABLE devices ADD COLUMN model TEXT NOT NULL DEFAULT '';
