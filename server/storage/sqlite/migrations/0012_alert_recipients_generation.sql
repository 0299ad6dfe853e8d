-- Tiga Pilar schema, version 12: the generation of who may receive alerts (docs/alerts.md,
-- "Rounds"). Kept in step with server/storage/postgres/migrations/0012_alert_recipients_generation.sql.
--
-- The alert worker fans events out against every warehouse, user (with assignments), webhook and
-- push subscription. It keeps them between rounds and reads them again only when this counter
-- moved: every change of those tables bumps it, by trigger, in the transaction of the change, so
-- no write path can forget it and every server process sees it once committed.
CREATE TABLE alert_recipients_generation (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    generation  INTEGER NOT NULL
);
INSERT INTO alert_recipients_generation (id, generation) VALUES (1, 0);
CREATE TRIGGER warehouses_insert_recipients AFTER INSERT ON warehouses
BEGIN UPDATE alert_recipients_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER warehouses_update_recipients AFTER UPDATE ON warehouses
BEGIN UPDATE alert_recipients_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER warehouses_delete_recipients AFTER DELETE ON warehouses
BEGIN UPDATE alert_recipients_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER users_insert_recipients AFTER INSERT ON users
BEGIN UPDATE alert_recipients_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER users_update_recipients AFTER UPDATE ON users
BEGIN UPDATE alert_recipients_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER users_delete_recipients AFTER DELETE ON users
BEGIN UPDATE alert_recipients_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER assignments_insert_recipients AFTER INSERT ON assignments
BEGIN UPDATE alert_recipients_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER assignments_update_recipients AFTER UPDATE ON assignments
BEGIN UPDATE alert_recipients_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER assignments_delete_recipients AFTER DELETE ON assignments
BEGIN UPDATE alert_recipients_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER webhooks_insert_recipients AFTER INSERT ON webhooks
BEGIN UPDATE alert_recipients_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER webhooks_update_recipients AFTER UPDATE ON webhooks
BEGIN UPDATE alert_recipients_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER webhooks_delete_recipients AFTER DELETE ON webhooks
BEGIN UPDATE alert_recipients_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER push_subscriptions_insert_recipients AFTER INSERT ON push_subscriptions
BEGIN UPDATE alert_recipients_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER push_subscriptions_update_recipients AFTER UPDATE ON push_subscriptions
BEGIN UPDATE alert_recipients_generation SET generation = generation + 1 WHERE id = 1; END;
CREATE TRIGGER push_subscriptions_delete_recipients AFTER DELETE ON push_subscriptions
BEGIN UPDATE alert_recipients_generation SET generation = generation + 1 WHERE id = 1; END;
