-- Tiga Pilar schema, version 9: alert deliveries keyed by their warehouse (issue 18, point 7).
--
-- A delivery carries its event's warehouse; its key and its one-delivery-per-(event, target) rule
-- now lead with it, so the table can be distributed by warehouse_id (docs/postgres.md, "Beyond one
-- PostgreSQL server"). An event belongs to one warehouse, so (warehouse_id, channel, target_id,
-- event_id) is unique exactly when (channel, target_id, event_id) was. The delivery id stays unique
-- by construction and keeps a plain index for the worker's updates by id. Every row is copied.
CREATE TABLE alert_deliveries_0009 (
    id               TEXT NOT NULL,
    event_id         INTEGER NOT NULL REFERENCES alert_events(id),
    channel          TEXT NOT NULL,
    target_id        TEXT NOT NULL,
    warehouse_id     TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       REAL NOT NULL,
    next_attempt_at  REAL NOT NULL,
    lease_until      REAL NOT NULL DEFAULT 0,
    lease_owner      TEXT NOT NULL DEFAULT '',
    last_error       TEXT NOT NULL DEFAULT '',
    delivered_at     REAL,
    PRIMARY KEY (warehouse_id, id),
    UNIQUE (warehouse_id, channel, target_id, event_id)
);
INSERT INTO alert_deliveries_0009 (id, event_id, channel, target_id, warehouse_id, status, attempts,
                                   created_at, next_attempt_at, lease_until, lease_owner, last_error,
                                   delivered_at)
SELECT id, event_id, channel, target_id, warehouse_id, status, attempts, created_at, next_attempt_at,
       lease_until, lease_owner, last_error, delivered_at
FROM alert_deliveries;
DROP TABLE alert_deliveries;
ALTER TABLE alert_deliveries_0009 RENAME TO alert_deliveries;
CREATE INDEX alert_deliveries_id ON alert_deliveries (id);
CREATE INDEX alert_deliveries_pending ON alert_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX alert_deliveries_order ON alert_deliveries (channel, target_id, warehouse_id, event_id)
    WHERE status = 'pending';
