-- Tiga Pilar schema, version 10: device freshness from maintained rows, not a scan (issue 18).
--
-- device_sync: one row per live (not revoked) device and warehouse its user is assigned to,
-- written in the transaction that creates or revokes the device or changes the assignments. The
-- supervisor's device freshness of a scope is an index range of these rows, joined to `devices`
-- and `client_state` by their keys (expiry is checked at read: it passes without a write).
--
-- client_state.missing_attachments: the photos this client referenced that the server lacks,
-- recounted by the push that adds references and decreased by the upload that brings one.
CREATE TABLE device_sync (
    warehouse_id  TEXT NOT NULL,
    device_id     TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    PRIMARY KEY (warehouse_id, device_id)
);
CREATE INDEX device_sync_device ON device_sync (device_id);
CREATE INDEX device_sync_user ON device_sync (user_id);
INSERT INTO device_sync (warehouse_id, device_id, user_id)
SELECT a.warehouse_id, d.id, d.user_id FROM devices AS d JOIN assignments AS a ON a.user_id = d.user_id
WHERE d.revoked_at IS NULL;

ALTER TABLE client_state ADD COLUMN missing_attachments INTEGER NOT NULL DEFAULT 0;
UPDATE client_state SET missing_attachments = (
    SELECT count(DISTINCT r.sha256) FROM attachment_refs AS r
    WHERE r.client_id = client_state.client_id
    AND NOT EXISTS (SELECT 1 FROM attachments AS a WHERE a.sha256 = r.sha256));
