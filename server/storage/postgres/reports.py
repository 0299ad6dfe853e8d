"""Read-only queries of the supervisor view, exports and live updates (the "supervisor" section of
server.storage.base.Storage) on PostgreSQL: plain selects mirroring
server/storage/sqlite/reports.py (aggregation happens in Python, server/reports.py).

Text is compared and ordered with COLLATE "C" (SQLite's byte order); the free-text audit search
uses ILIKE (SQLite's LIKE is case-insensitive too).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import msgspec

from server.models import now_iso
from server.storage.base import AuditCursor, AuditRow, DeviceSyncState
from server.storage.postgres.sync_tx import RECORD_COLUMNS, str_list
from server.storage.rows import AUDIT_ROW_COLUMNS, audit_row_from_row, record_from_row
from server.summaries import StoredSummary, SummaryRow
from sync.messages import MutationResult
from sync.store import Record, StoredOutcome

_result = msgspec.json.Decoder(MutationResult).decode
_detail = msgspec.json.Decoder(dict[str, Any]).decode


def _like(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with its own % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


UPSERT_SUMMARIES = """
INSERT INTO warehouse_summary AS s (warehouse_id, revision, items_key, summary)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[])
ON CONFLICT (warehouse_id) DO UPDATE SET revision = excluded.revision,
    items_key = excluded.items_key, summary = excluded.summary
WHERE excluded.revision >= s.revision
"""
"""Summaries the overview folded (server/summaries.py); never over one folded at a newer revision."""


def _columns(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)]


class SupervisorQueriesMixin:
    """Implements the supervisor section of the Storage protocol on PostgreSQL."""

    url: str

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        raise NotImplementedError

    async def _execute(self, sql: str, *args: Any) -> str:
        raise NotImplementedError

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
        # A connection of its own (not one of the pool's, which pushes and pulls need) holding one
        # REPEATABLE READ snapshot for the whole walk: an export is consistent however long the
        # client takes to read it, and MVCC never blocks writers for it.
        conn = await asyncpg.connect(self.url, server_settings={"application_name": "tigapilar-export"})
        try:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                for warehouse_id in sorted(set(warehouse_ids)):
                    after = -1
                    while True:
                        rows = await conn.fetch(
                            f"SELECT {RECORD_COLUMNS} FROM records"
                            " WHERE warehouse_id = $1 AND revision > $2 AND collection = ANY($3::text[])"
                            " AND ($4 OR NOT deleted)"
                            ' AND ($5::text IS NULL OR created_at COLLATE "C" >= $5::text)'
                            ' AND ($6::text IS NULL OR created_at COLLATE "C" < $6::text)'
                            ' AND ($7::text IS NULL OR updated_at COLLATE "C" >= $7::text)'
                            " ORDER BY revision LIMIT $8",
                            warehouse_id,
                            after,
                            str_list(collections),
                            bool(include_deleted),
                            created_from,
                            created_to,
                            updated_from,
                            batch,
                        )
                        for row in rows:
                            yield record_from_row(row)
                        if len(rows) < batch:
                            break
                        after = rows[-1][3]
        finally:
            await conn.close()

    async def get_records(self, ids: Sequence[str]) -> dict[str, Record]:
        if not ids:
            return {}
        rows = await self._fetch(
            f"SELECT {RECORD_COLUMNS} FROM records WHERE id = ANY($1::text[])", str_list(ids)
        )
        return {row[0]: record_from_row(row) for row in rows}

    async def latest_revision(self) -> int:
        rows = await self._fetch("SELECT coalesce(max(revision), 0) FROM warehouse_state")
        return int(rows[0][0])

    async def live_cursors(self, warehouse_ids: Sequence[str]) -> dict[str, int]:
        rows = await self._fetch(
            "SELECT warehouse_id, revision FROM warehouse_state WHERE warehouse_id = ANY($1::text[])",
            sorted(set(warehouse_ids)),
        )
        found = {row[0]: int(row[1]) for row in rows}
        return {w: found.get(w, 0) for w in warehouse_ids}

    async def warehouse_summaries(self, warehouse_ids: Sequence[str]) -> dict[str, StoredSummary]:
        rows = await self._fetch(
            "SELECT s.warehouse_id, s.revision, coalesce(w.revision, 0), s.items_key, s.summary"
            " FROM warehouse_summary AS s LEFT JOIN warehouse_state AS w ON w.warehouse_id = s.warehouse_id"
            " WHERE s.warehouse_id = ANY($1::text[])",
            sorted(set(warehouse_ids)),
        )
        return {
            r[0]: StoredSummary(revision=int(r[1]), current=int(r[2]), items_key=r[3], summary=r[4])
            for r in rows
        }

    async def keep_summaries(self, rows: Sequence[SummaryRow]) -> None:
        if rows:
            await self._execute(UPSERT_SUMMARIES, *_columns(sorted(rows)))

    async def warehouse_revisions(self, warehouse_ids: Sequence[str]) -> dict[str, int]:
        # One index seek per warehouse on records_feed (warehouse_id, revision).
        rows = await self._fetch(
            "SELECT w, (SELECT max(revision) FROM records WHERE warehouse_id = w)"
            " FROM unnest($1::text[]) AS w",
            sorted(set(warehouse_ids)),
        )
        return {row[0]: int(row[1] or 0) for row in rows}

    async def changes_after(self, cursors: dict[str, int], limit: int) -> list[Record]:
        if not cursors:
            return []
        # One index range scan per warehouse on records_feed (warehouse_id, revision).
        columns = ", ".join(f"r.{c.strip()}" for c in RECORD_COLUMNS.split(","))
        rows = await self._fetch(
            f"SELECT {columns} FROM unnest($1::text[], $2::bigint[]) AS c(w, after)"
            " CROSS JOIN LATERAL (SELECT * FROM records WHERE warehouse_id = c.w AND revision > c.after"
            "   ORDER BY revision LIMIT $3) AS r"
            ' ORDER BY r.warehouse_id COLLATE "C", r.revision LIMIT $3',
            list(cursors),
            list(cursors.values()),
            limit,
        )
        return [record_from_row(row) for row in rows]

    async def rejected_outcomes(
        self, warehouse_ids: Sequence[str], limit: int, offset: int = 0
    ) -> list[StoredOutcome]:
        if not warehouse_ids:
            return []
        rows = await self._fetch(
            "SELECT client_id, seq, user_id, warehouse_id, collection, record_id, op, result, mutation, at"
            " FROM outcomes WHERE status = 'rejected' AND warehouse_id = ANY($1::text[])"
            ' ORDER BY at COLLATE "C" DESC, client_id COLLATE "C", seq DESC LIMIT $2 OFFSET $3',
            str_list(warehouse_ids),
            limit,
            offset,
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
            "(warehouse_id = ANY($1::text[]) OR ($2 AND warehouse_id IS NULL))",
            "($3::text IS NULL OR subject = $3::text)",
            '($4::text IS NULL OR at COLLATE "C" >= $4::text)',
            '($5::text IS NULL OR at COLLATE "C" < $5::text)',
        ]
        params: list[Any] = [str_list(warehouse_ids), bool(include_global), subject, from_at, to_at]
        if before is not None:
            # Row comparison in the "C" order the index and the ORDER BY use.
            where.append(
                '(at COLLATE "C", chain COLLATE "C", id)'
                ' < ($6::text COLLATE "C", $7::text COLLATE "C", $8::bigint)'
            )
            params += [before.at, before.chain, before.id]
        if query:
            n = len(params) + 1
            where.append(
                f"(kind ILIKE ${n} ESCAPE '\\' OR subject ILIKE ${n} ESCAPE '\\'"
                f" OR device ILIKE ${n} ESCAPE '\\'"
                f" OR actor_agency ILIKE ${n} ESCAPE '\\' OR audit_detail(content) ILIKE ${n} ESCAPE '\\'"
                f" OR actor_id = ANY(${n + 1}::text[]))"
            )
            params += [_like(query), str_list(actor_ids)]
        params.append(limit)
        rows = await self._fetch(
            f"SELECT {AUDIT_ROW_COLUMNS} FROM audit_log WHERE {' AND '.join(where)}"
            f' ORDER BY at COLLATE "C" DESC, chain COLLATE "C" DESC, id DESC LIMIT ${len(params)}',
            *params,
        )
        return [audit_row_from_row(r) for r in rows]

    async def device_sync_state(self, warehouse_ids: Sequence[str]) -> list[DeviceSyncState]:
        if not warehouse_ids:
            return []
        # An index range of device_sync per warehouse (its primary key), then each device and its
        # client's state by key (migration 0010).
        rows = await self._fetch(
            "WITH scope AS (SELECT s.device_id,"
            '   array_agg(s.warehouse_id ORDER BY s.warehouse_id COLLATE "C") AS w'
            "   FROM device_sync AS s WHERE s.warehouse_id = ANY($2::text[]) GROUP BY s.device_id)"
            " SELECT d.id, d.user_id, d.name, d.client_id, d.created_at, d.last_seen,"
            " c.updated_at, coalesce(c.last_seq, 0), coalesce(c.missing_attachments, 0), scope.w"
            " FROM scope JOIN devices AS d ON d.id = scope.device_id"
            " LEFT JOIN client_state AS c ON c.client_id = d.client_id"
            ' WHERE d.revoked_at IS NULL AND d.expires_at COLLATE "C" > $1::text'
            ' ORDER BY d.last_seen COLLATE "C", d.id COLLATE "C"',
            now_iso(),
            str_list(warehouse_ids),
        )
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
                warehouses=list(r[9]),
            )
            for r in rows
        ]
