-- Tiga Pilar schema, version 7: each warehouse's overview summary (issue 18). The same table as
-- server/storage/sqlite/migrations/0007_warehouse_summary.sql.
--
-- One row per warehouse: the fold of its records the supervisor overview shows (open findings,
-- open incidents, stock discrepancies, last inspection per agency, reviews waiting, conflicts,
-- recent shifts; server/summaries.py), written by the push that changes them in its own
-- transaction. `revision` is the warehouse revision it was folded at: the summary holds while it
-- equals warehouse_state.revision. `items_key` names the stock item types it was reconciled
-- against. Starts empty: the overview folds a warehouse without one once and keeps it.
CREATE TABLE warehouse_summary (
    warehouse_id  TEXT PRIMARY KEY,
    revision      BIGINT NOT NULL,
    items_key     TEXT NOT NULL,
    summary       TEXT NOT NULL
);
