-- Tiga Pilar schema, version 6: berita acara numbers, and devices by the name officers give them.
--
-- One counter row per (warehouse, year): the last berita acara number given there (sync.ops,
-- submit_inspection, inside the push transaction; BEGIN IMMEDIATE makes it the only writer, across
-- server processes too). warehouse_id leads the key: no row is shared by two warehouses.
CREATE TABLE report_counters (
    warehouse_id  TEXT NOT NULL,
    year          INTEGER NOT NULL,
    last          INTEGER NOT NULL CHECK (last >= 0),
    PRIMARY KEY (warehouse_id, year)
);

-- The model the phone's browser reports ("SM-A055F", "Redmi Note 12"), beside the name its
-- officer gave it at login (`name`, editable by an admin).
ALTER TABLE devices ADD COLUMN model TEXT NOT NULL DEFAULT '';
