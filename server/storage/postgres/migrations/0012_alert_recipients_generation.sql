-- Tiga Pilar schema, version 12 (PostgreSQL): the generation of who may receive alerts
-- (docs/alerts.md, "Rounds"). Kept in step with
-- server/storage/sqlite/migrations/0012_alert_recipients_generation.sql.
--
-- The alert worker fans events out against every warehouse, user (with assignments), webhook and
-- push subscription. It keeps them between rounds and reads them again only when this counter
-- moved: every change of those tables bumps it, by trigger, in the transaction of the change, so
-- no write path can forget it and every server process sees it once committed. Statement triggers:
-- a bulk load bumps it once.
CREATE TABLE alert_recipients_generation (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    generation  BIGINT NOT NULL
);
INSERT INTO alert_recipients_generation (id, generation) VALUES (1, 0);

CREATE FUNCTION bump_alert_recipients_generation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE alert_recipients_generation SET generation = generation + 1 WHERE id = 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER warehouses_recipients AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON warehouses
FOR EACH STATEMENT EXECUTE FUNCTION bump_alert_recipients_generation();
CREATE TRIGGER users_recipients AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
FOR EACH STATEMENT EXECUTE FUNCTION bump_alert_recipients_generation();
CREATE TRIGGER assignments_recipients AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON assignments
FOR EACH STATEMENT EXECUTE FUNCTION bump_alert_recipients_generation();
CREATE TRIGGER webhooks_recipients AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON webhooks
FOR EACH STATEMENT EXECUTE FUNCTION bump_alert_recipients_generation();
CREATE TRIGGER push_subscriptions_recipients AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON push_subscriptions
FOR EACH STATEMENT EXECUTE FUNCTION bump_alert_recipients_generation();
