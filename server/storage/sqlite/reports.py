"""Read-only queries of the supervisor view, exports and live updates (the "supervisor" section of
server.storage.base.Storage), for SqliteStorage to inherit.

Nothing here aggregates: server/reports.py does that in Python over these few generic reads, so
the PostgreSQL backend only has to mirror plain selects.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiosqlite
import msgspec

from server.models import now_iso
from server.storage.base import AuditCursor, AuditRow, DeviceSyncState
from server.storage.rows import AUDIT_ROW_COLUMNS, audit_row_from_row, record_from_row
from server.storage.sqlite.sync_tx import RECORD_COLUMNS, UPSERT_SUMMARY, json_list
from server.summaries import StoredSummary, SummaryRow
from sync.messages import MutationResult
from sync.store import Record, StoredOutcome

_result = msgspec.json.Decoder(MutationResult).decode
_detail = msgspec.json.Decoder(dict[str, Any]).decode
_AUDIT_DETAIL = (
    "(CASE WHEN json_valid(CAST(content AS TEXT)) THEN json_extract(CAST(content AS TEXT), '$.detail') END)"
)
"""An audit entry's detail as its hashed content holds it (JSON text; migration 0008 dropped the
column that copied it); NULL for a content that is not JSON (a tampered row: verify says so)."""


def _like(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with its own % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class SupervisorQueriesMixin:
    """Implements the supervisor section of the Storage protocol on SQLite."""

    def _reading(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        raise NotImplementedError

    async def _connect(self, *, reader: bool) -> aiosqlite.Connection:
        raise NotImplementedError

    def _writing(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        raise NotImplementedError

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        async with self._reading() as conn:
            return list(await conn.execute_fetchall(sql, params))

    async def warehouse_summaries(self, warehouse_ids: Sequence[str]) -> dict[str, StoredSummary]:
        rows = await self._rows(
            "SELECT s.warehouse_id, s.revision, coalesce(w.revision, 0), s.items_key, s.summary"
            " FROM json_each(?) AS ids JOIN warehouse_summary AS s ON s.warehouse_id = ids.value"
            " LEFT JOIN warehouse_state AS w ON w.warehouse_id = s.warehouse_id",
            (json_list(sorted(set(warehouse_ids))),),
        )
        return {
            r[0]: StoredSummary(revision=int(r[1]), current=int(r[2]), items_key=r[3], summary=r[4])
            for r in rows
        }

    async def keep_summaries(self, rows: Sequence[SummaryRow]) -> None:
        if rows:
            async with self._writing() as conn:
                await conn.executemany(UPSERT_SUMMARY, sorted(rows))

    async def iter_records(
        self,
        warehouse_ids: Sequence[str],
        collections: Sequence[str],
        *,
        created_from: str | None = None,
        created_to: str | None = None,
        updated_from: str | None = None,
        include_deleted: bool = False,
        batch: int = 500,
    ) -> AsyncIterator[Record]:
        # A connection of its own (not one of the pool's readers, which pulls need), holding one
        # WAL snapshot for the whole walk: an export is consistent however long the client takes
        # to read it, and writers are never blocked by it.
        conn = await self._connect(reader=True)
        try:
            await conn.execute("BEGIN")
            for warehouse_id in sorted(set(warehouse_ids)):
                after = -1
                while True:
                    rows = list(
                        await conn.execute_fetchall(
                            f"SELECT {RECORD_COLUMNS} FROM records"
                            " WHERE warehouse_id = ? AND revision > ?"
                            " AND collection IN (SELECT value FROM json_each(?))"
                            " AND (? OR deleted = 0)"
                            " AND (? IS NULL OR created_at >= ?) AND (? IS NULL OR created_at < ?)"
                            " AND (? IS NULL OR updated_at >= ?)"
                            " ORDER BY revision LIMIT ?",
                            (
                                warehouse_id,
                                after,
                                json_list(collections),
                                int(include_deleted),
                                created_from,
                                created_from,
                                created_to,
                                created_to,
                                updated_from,
                                updated_from,
                                batch,
                            ),
                        )
                    )
                    for row in rows:
                        yield record_from_row(row)
                    if len(rows) < batch:
                        break
                    after = rows[-1][3]
        finally:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            await conn.close()

    async def get_records(self, ids: Sequence[str]) -> dict[str, Record]:
        if not ids:
            return {}
        rows = await self._rows(
            f"SELECT {RECORD_COLUMNS} FROM records WHERE id IN (SELECT value FROM json_each(?))",
            (json_list(ids),),
        )
        return {row[0]: record_from_row(row) for row in rows}

    async def latest_revision(self) -> int:
        rows = await self._rows("SELECT coalesce(max(revision), 0) FROM warehouse_state")
        return int(rows[0][0])

    async def live_cursors(self, warehouse_ids: Sequence[str]) -> dict[str, int]:
        rows = await self._rows(
            "SELECT warehouse_id, revision FROM warehouse_state"
            " WHERE warehouse_id IN (SELECT value FROM json_each(?))",
            (json_list(sorted(set(warehouse_ids))),),
        )
        found = {row[0]: int(row[1]) for row in rows}
        return {w: found.get(w, 0) for w in warehouse_ids}

    async def warehouse_revisions(self, warehouse_ids: Sequence[str]) -> dict[str, int]:
        # One index seek per warehouse on records_feed (warehouse_id, revision).
        rows = await self._rows(
            "SELECT w.value, (SELECT max(revision) FROM records WHERE warehouse_id = w.value)"
            " FROM json_each(?) AS w",
            (json_list(sorted(set(warehouse_ids))),),
        )
        return {row[0]: int(row[1] or 0) for row in rows}

    async def changes_after(self, cursors: dict[str, int], limit: int) -> list[Record]:
        if not cursors:
            return []
        columns = ", ".join(f"r.{c.strip()}" for c in RECORD_COLUMNS.split(","))
        rows = await self._rows(
            f"SELECT {columns} FROM json_each(?) AS c"
            " JOIN records AS r ON r.warehouse_id = c.key AND r.revision > c.value"
            " ORDER BY r.warehouse_id, r.revision LIMIT ?",
            (msgspec.json.encode(cursors).decode(), limit),
        )
        return [record_from_row(row) for row in rows]

    async def rejected_outcomes(
        self, warehouse_ids: Sequence[str], limit: int, offset: int = 0
    ) -> list[StoredOutcome]:
        if not warehouse_ids:
            return []
        rows = await self._rows(
            "SELECT client_id, seq, user_id, warehouse_id, collection, record_id, op, result, mutation, at"
            " FROM outcomes WHERE status = 'rejected'"
            " AND warehouse_id IN (SELECT value FROM json_each(?))"
            " ORDER BY at DESC, client_id, seq DESC LIMIT ? OFFSET ?",
            (json_list(warehouse_ids), limit, offset),
        )
        return [
            StoredOutcome(
                client_id=r[0],
                seq=r[1],
                user_id=r[2],
                warehouse_id=r[3],
                collection=r[4],
                record_id=r[5],
                op=r[6],
                result=_result(r[7]),
                mutation=bytes(r[8]),
                at=r[9],
            )
            for r in rows
        ]

    async def audit_search(
        self,
        *,
        warehouse_ids: Sequence[str],
        include_global: bool = False,
        query: str = "",
        actor_ids: Sequence[str] = (),
        subject: str | None = None,
        from_at: str | None = None,
        to_at: str | None = None,
        before: AuditCursor | None = None,
        limit: int = 100,
    ) -> list[AuditRow]:
        where = [
            "(warehouse_id IN (SELECT value FROM json_each(?)) OR (? AND warehouse_id IS NULL))",
            "(? IS NULL OR subject = ?)",
            "(? IS NULL OR at >= ?)",
            "(? IS NULL OR at < ?)",
        ]
        params: list[Any] = [
            json_list(warehouse_ids),
            int(include_global),
            subject,
            subject,
            from_at,
            from_at,
            to_at,
            to_at,
        ]
        if before is not None:
            where.append("(at, chain, id) < (?, ?, ?)")
            params += [before.at, before.chain, before.id]
        if query:
            pattern = _like(query)
            where.append(
                "(kind LIKE ? ESCAPE '\\' OR subject LIKE ? ESCAPE '\\' OR device LIKE ? ESCAPE '\\'"
                f" OR actor_agency LIKE ? ESCAPE '\\' OR {_AUDIT_DETAIL} LIKE ? ESCAPE '\\'"
                " OR actor_id IN (SELECT value FROM json_each(?)))"
            )
            params += [pattern, pattern, pattern, pattern, pattern, json_list(actor_ids)]
        rows = await self._rows(
            f"SELECT {AUDIT_ROW_COLUMNS} FROM audit_log WHERE {' AND '.join(where)}"
            " ORDER BY at DESC, chain DESC, id DESC LIMIT ?",
            (*params, limit),
        )
        return [audit_row_from_row(r) for r in rows]

    async def device_sync_state(self, warehouse_ids: Sequence[str]) -> list[DeviceSyncState]:
        if not warehouse_ids:
            return []
        ids = json_list(warehouse_ids)
        # An index range of device_sync per warehouse (its primary key), then each device and its
        # client's state by key (migration 0010).
        async with self._reading() as conn:
            await conn.execute("BEGIN")
            links = list(
                await conn.execute_fetchall(
                    "SELECT s.device_id, s.warehouse_id FROM json_each(?) AS w"
                    " JOIN device_sync AS s ON s.warehouse_id = w.value ORDER BY s.warehouse_id",
                    (ids,),
                )
            )
            devices = list(
                await conn.execute_fetchall(
                    "SELECT d.id, d.user_id, d.name, d.client_id, d.created_at, d.last_seen,"
                    " c.updated_at, coalesce(c.last_seq, 0), coalesce(c.missing_attachments, 0)"
                    " FROM devices AS d LEFT JOIN client_state AS c ON c.client_id = d.client_id"
                    " WHERE d.id IN (SELECT value FROM json_each(?))"
                    " AND d.revoked_at IS NULL AND d.expires_at > ?"
                    " ORDER BY d.last_seen, d.id",
                    (json_list(sorted({device_id for device_id, _ in links})), now_iso()),
                )
            )
        assigned: dict[str, list[str]] = {}
        for device_id, warehouse_id in links:
            assigned.setdefault(device_id, []).append(warehouse_id)
        return [
            DeviceSyncState(
                device_id=r[0],
                user_id=r[1],
                name=r[2],
                client_id=r[3],
                created_at=r[4],
                last_seen=r[5],
                last_push_at=r[6] or None,
                last_seq=int(r[7]),
                missing_attachments=int(r[8]),
                warehouses=assigned.get(r[0], []),
            )
            for r in devices
        ]
