-- Tiga Pilar schema, version 4: alerts (docs/alerts.md).
--
-- The outbox: one row per event, written in the transaction of its cause (sync/alerts.py). `key`
-- is unique per occurrence, so a scheduled event noticed by several processes is raised once.
-- `dispatched`: its deliveries have been made (server/alerts/outbox.py).
CREATE TABLE alert_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    key           TEXT NOT NULL UNIQUE,
    event         TEXT NOT NULL,
    warehouse_id  TEXT NOT NULL,
    subject       TEXT NOT NULL,
    record        TEXT NOT NULL,
    occurred_at   TEXT NOT NULL,
    dispatched    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX alert_events_waiting ON alert_events (id) WHERE dispatched = 0;

-- Where events go by HTTP POST. `warehouses` empty: every warehouse. The secret signs each body
-- (HMAC-SHA256) and is never shown again after it was set.
CREATE TABLE webhooks (
    id             TEXT PRIMARY KEY,
    url            TEXT NOT NULL,
    events         TEXT NOT NULL,
    warehouses     TEXT NOT NULL,
    secret         TEXT NOT NULL,
    allow_private  INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL,
    created_by     TEXT NOT NULL
);

-- A browser's or phone's Web Push subscription (RFC 8030 endpoint, RFC 8291 keys), per user and
-- device; removed when the push service answers 404/410.
CREATE TABLE push_subscriptions (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device_id   TEXT NOT NULL,
    endpoint    TEXT NOT NULL UNIQUE,
    p256dh      TEXT NOT NULL,
    auth        TEXT NOT NULL,
    lang        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id);

-- One event to one target (a webhook or a push subscription). `id` is the delivery id, the same on
-- every attempt. Times are Unix seconds. `lease_until`: a process is attempting it; another may
-- take it over after that
-- (`lease_owner` names the claim). status: pending, delivered, dead (the dead-letter list).
CREATE TABLE alert_deliveries (
    id               TEXT PRIMARY KEY,
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
    UNIQUE (channel, target_id, event_id)
);
CREATE INDEX alert_deliveries_pending ON alert_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX alert_deliveries_order ON alert_deliveries (channel, target_id, warehouse_id, event_id)
    WHERE status = 'pending';
