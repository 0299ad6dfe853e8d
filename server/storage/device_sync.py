"""The statements that keep the supervisor's device freshness (migration 0010, issue 18) current,
written once for both SQL backends (numbered `$n` parameters; `sqlite()` spells them `?n`).

`device_sync` holds one row per live device and warehouse its user is assigned to; they change
with the transaction that creates or revokes the device or replaces the assignments.
`client_state.missing_attachments` counts the distinct photos a client referenced that the server
lacks; the push that adds references and the upload that brings a photo recount it for the
clients concerned. A scope's device freshness is then an index range of `device_sync` joined to
`devices` and `client_state` by their keys (each backend's reports.py reads it).

On PostgreSQL (READ COMMITTED) a push adding a reference and the upload of that very photo
committing at the same moment can each miss the other's uncommitted rows: the client's count then
holds that photo as owed until its next push with photos or its next upload recounts it. On SQLite
the one writer orders them and the count is exact."""

from __future__ import annotations

import re

DEVICE_SYNC_OF_USER = (
    "INSERT INTO device_sync (warehouse_id, device_id, user_id)"
    " SELECT a.warehouse_id, d.id, d.user_id FROM assignments AS a JOIN devices AS d ON d.user_id = a.user_id"
    " WHERE a.user_id = $1 AND d.revoked_at IS NULL"
)
"""Rows of a user's live devices in their assignments (after deleting the user's rows)."""

FILL_ALL = (
    "INSERT INTO device_sync (warehouse_id, device_id, user_id)"
    " SELECT a.warehouse_id, d.id, d.user_id FROM devices AS d JOIN assignments AS a ON a.user_id = d.user_id"
    " WHERE d.revoked_at IS NULL"
)
"""Rows of every live device, into an empty table: what migration 0010 fills, and what a tool that
loads devices and assignments in bulk (bench/national.py copies them) runs after its load."""

FORGET_USER = "DELETE FROM device_sync WHERE user_id = $1"

DEVICE_SYNC_OF_DEVICE = (
    "INSERT INTO device_sync (warehouse_id, device_id, user_id)"
    " SELECT a.warehouse_id, d.id, d.user_id FROM devices AS d JOIN assignments AS a ON a.user_id = d.user_id"
    " WHERE d.id = $1 AND d.revoked_at IS NULL"
)
"""Rows of a device just created."""

FORGET_DEVICE = "DELETE FROM device_sync WHERE device_id = $1"

FORGET_REVOKED = (
    "DELETE FROM device_sync WHERE user_id = $1"
    " AND device_id IN (SELECT id FROM devices WHERE user_id = $1 AND revoked_at IS NOT NULL)"
)
"""Rows of a user's devices revoked (after revoking some of them)."""

_MISSING = (
    "UPDATE client_state SET missing_attachments = (SELECT count(DISTINCT r.sha256) FROM attachment_refs AS r"
    " WHERE r.client_id = client_state.client_id"
    " AND NOT EXISTS (SELECT 1 FROM attachments AS a WHERE a.sha256 = r.sha256))"
)

RECOUNT_ARRIVED = f"{_MISSING} WHERE client_id IN (SELECT client_id FROM attachment_refs WHERE sha256 = $1)"
"""Recount the clients that referenced a photo just stored."""


def recount_clients(condition: str) -> str:
    """Recount the clients `condition` (the backend's test of `client_id` against a list) names."""
    return f"{_MISSING} WHERE {condition}"


def sqlite(sql: str) -> str:
    """`sql` with SQLite's numbered parameters (`?1`) for `$1`."""
    return re.sub(r"\$(\d+)", r"?\1", sql)
