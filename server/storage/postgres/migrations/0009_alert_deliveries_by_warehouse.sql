-- Tiga Pilar schema, version 9 (PostgreSQL): alert deliveries keyed by their warehouse (issue 18,
-- point 7). Kept in step with server/storage/sqlite/migrations/0009_alert_deliveries_by_warehouse.sql.
--
-- A delivery carries its event's warehouse; its key and its one-delivery-per-(event, target) rule
-- now lead with it, so the table can be distributed by warehouse_id (docs/postgres.md, "Beyond one
-- PostgreSQL server"). An event belongs to one warehouse, so (warehouse_id, channel, target_id,
-- event_id) is unique exactly when (channel, target_id, event_id) was. The delivery id stays unique
-- by construction and keeps a plain index for the worker's updates by id. No row is rewritten.
ALTER TABLE alert_deliveries
    DROP CONSTRAINT alert_deliveries_pkey,
    DROP CONSTRAINT alert_deliveries_channel_target_id_event_id_key,
    ADD PRIMARY KEY (warehouse_id, id),
    ADD UNIQUE (warehouse_id, channel, target_id, event_id);
CREATE INDEX alert_deliveries_id ON alert_deliveries (id);
