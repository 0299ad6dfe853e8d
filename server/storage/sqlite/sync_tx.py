"""SQLite implementation of the sync engine's transactions (sync.store.WriteTx and ReadTx).

Batch reads are one query each (ids passed as one JSON array and expanded with json_each), batch
writes are executemany in the writer's single transaction, and JSON columns go through msgspec.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import aiosqlite
import msgspec

from server.storage.rows import audit_rows, change_from_feed_row, record_from_row
from sync import digest as digest_mod
from sync.domain import Template
from sync.messages import Change, Digest, MutationResult
from sync.store import BatchEffects, Record, StoredOutcome

_encode = msgspec.json.Encoder().encode
_result = msgspec.json.Decoder(MutationResult).decode
_template = msgspec.json.Decoder(Template).decode

RECORD_COLUMNS = (
    "id, collection, warehouse_id, revision, fields, field_revs, field_hlcs, field_by, deleted, "
    "created_by, updated_by, created_at, updated_at"
)
FEED_COLUMNS = "id, collection, warehouse_id, revision, fields, deleted, created_by, updated_by, updated_at"
"""What a Change carries: the pull feed needs none of the per-field merge bookkeeping."""

_UPSERT_RECORD = f"""
INSERT INTO records ({RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    collection = excluded.collection, warehouse_id = excluded.warehouse_id,
    revision = excluded.revision, fields = excluded.fields, field_revs = excluded.field_revs,
    field_hlcs = excluded.field_hlcs, field_by = excluded.field_by, deleted = excluded.deleted,
    created_by = excluded.created_by,
    updated_by = excluded.updated_by, created_at = excluded.created_at, updated_at = excluded.updated_at
"""

_INSERT_OUTCOME = """
INSERT INTO outcomes (client_id, seq, user_id, warehouse_id, collection, record_id, op, status,
                      revision, result, mutation, at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

_INSERT_AUDIT = """
INSERT INTO audit_log (at, kind, actor_id, actor_agency, device, warehouse_id, subject, detail,
                       content, prev_hash, hash)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


_UPSERT_CLIENT = (
    "INSERT INTO client_state (client_id, user_id, last_seq, updated_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (client_id) DO UPDATE SET user_id = excluded.user_id,"
    " last_seq = max(last_seq, excluded.last_seq), updated_at = excluded.updated_at"
)

_UPSERT_DIGEST = (
    "INSERT INTO digests (warehouse_id, count, checksum) VALUES (?, ?, ?)"
    " ON CONFLICT (warehouse_id) DO UPDATE SET count = excluded.count, checksum = excluded.checksum"
)

T = TypeVar("T")


async def run_on_connection(conn: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> T:
    """`fn(sqlite3 connection, *args)` on the connection's own thread, in one round trip.

    Every await on the connection waits for the event loop to come round again; under load that
    wait, not SQLite, is what a write transaction spends its time on while holding the writer lock.
    aiosqlite has no public call for this; `_execute` is what each of its own methods uses."""
    execute: Any = conn._execute
    result: T = await execute(lambda: fn(conn._conn, *args))
    return result


def json_list(values: Iterable[Any]) -> str:
    return _encode(list(values)).decode()


def text(value: Any) -> str:
    return _encode(value).decode()


def record_row(record: Record) -> tuple[Any, ...]:
    return (
        record.id,
        record.collection,
        record.warehouse_id,
        record.revision,
        text(record.fields),
        text(record.field_revs),
        text(record.field_hlcs),
        text(record.field_by),
        int(record.deleted),
        record.created_by,
        record.updated_by,
        record.created_at,
        record.updated_at,
    )


def outcome_row(o: StoredOutcome) -> tuple[Any, ...]:
    r = o.result
    return (o.client_id, o.seq, o.user_id, o.warehouse_id, o.collection, o.record_id, o.op, r.status,
            r.revision, text(r), o.mutation, o.at)  # fmt: skip


async def fetch_digests(conn: aiosqlite.Connection, warehouse_ids: Sequence[str]) -> dict[str, Digest]:
    """Digest of each requested warehouse; one without records has the empty digest."""
    rows = await conn.execute_fetchall(
        "SELECT warehouse_id, count, checksum FROM digests"
        " WHERE warehouse_id IN (SELECT value FROM json_each(?))",
        (json_list(warehouse_ids),),
    )
    found = {row[0]: Digest(count=row[1], checksum=row[2]) for row in rows}
    return {wid: found.get(wid, digest_mod.EMPTY) for wid in warehouse_ids}


async def fetch_present(conn: aiosqlite.Connection, hashes: Sequence[str]) -> set[str]:
    rows = await conn.execute_fetchall(
        "SELECT sha256 FROM attachments WHERE sha256 IN (SELECT value FROM json_each(?))",
        (json_list(hashes),),
    )
    return {row[0] for row in rows}


class SqliteWriteTx:
    """Reads of the one write transaction, and the batch commit. Created by SqliteStorage.write()
    while it holds the writer lock, inside BEGIN IMMEDIATE."""

    def __init__(self, conn: aiosqlite.Connection, audit_head: str) -> None:
        self._conn = conn
        self.audit_head = audit_head
        """Hash of the newest audit entry, including entries this transaction appended."""
        self.committed = False
        self._revision: int | None = None
        """sync_meta.revision as read in this transaction (see client_last_seq)."""

    async def client_last_seq(self, client_id: str) -> int:
        # The revision comes along: the engine asks for it next, and inside this write transaction
        # only our own commit() can move it.
        rows = list(
            await self._conn.execute_fetchall(
                "SELECT (SELECT last_seq FROM client_state WHERE client_id = ?),"
                " (SELECT revision FROM sync_meta WHERE id = 1)",
                (client_id,),
            )
        )
        self._revision = int(rows[0][1])
        return int(rows[0][0] or 0)

    async def outcomes(self, client_id: str, seqs: Sequence[int]) -> dict[int, MutationResult]:
        if not seqs:
            return {}
        rows = await self._conn.execute_fetchall(
            "SELECT seq, result FROM outcomes WHERE client_id = ?"
            " AND seq IN (SELECT value FROM json_each(?))",
            (client_id, json_list(seqs)),
        )
        return {row[0]: _result(row[1]) for row in rows}

    async def records(self, ids: Sequence[str]) -> dict[str, Record]:
        if not ids:
            return {}
        rows = await self._conn.execute_fetchall(
            f"SELECT {RECORD_COLUMNS} FROM records WHERE id IN (SELECT value FROM json_each(?))",
            (json_list(ids),),
        )
        return {row[0]: record_from_row(row) for row in rows}

    async def revision(self) -> int:
        if self._revision is not None:
            return self._revision
        rows = list(await self._conn.execute_fetchall("SELECT revision FROM sync_meta WHERE id = 1"))
        return int(rows[0][0])

    async def digests(self, warehouse_ids: Sequence[str]) -> dict[str, Digest]:
        return await fetch_digests(self._conn, warehouse_ids)

    async def attachments_present(self, hashes: Sequence[str]) -> set[str]:
        return await fetch_present(self._conn, hashes) if hashes else set()

    async def template(self, template_id: str) -> Template | None:
        rows = list(
            await self._conn.execute_fetchall("SELECT body FROM templates WHERE id = ?", (template_id,))
        )
        return _template(rows[0][0]) if rows else None

    async def commit(self, effects: BatchEffects) -> None:
        if self.committed:
            raise RuntimeError("commit() was already called in this transaction")
        statements, head = commit_statements(effects, self.audit_head)
        await run_on_connection(self._conn, _execute_all, statements)
        self.audit_head = head
        self._revision = None
        self.committed = True


def _execute_all(db: sqlite3.Connection, statements: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
    for sql, rows in statements:
        db.executemany(sql, rows)


def commit_statements(
    effects: BatchEffects, audit_head: str
) -> tuple[list[tuple[str, list[tuple[Any, ...]]]], str]:
    """Every statement of a batch commit with its rows, and the audit head after it. Built entirely
    before touching the database, so the writes then run in one go on the connection's thread."""
    statements: list[tuple[str, list[tuple[Any, ...]]]] = []
    if effects.records:
        statements.append((_UPSERT_RECORD, [record_row(r) for r in effects.records]))
    if effects.outcomes:
        statements.append((_INSERT_OUTCOME, [outcome_row(o) for o in effects.outcomes]))
    if effects.client_id:
        at = effects.outcomes[-1].at if effects.outcomes else ""
        statements.append((_UPSERT_CLIENT, [(effects.client_id, effects.user_id, effects.last_seq, at)]))
    if effects.digests:
        statements.append((_UPSERT_DIGEST, [(w, d.count, d.checksum) for w, d in effects.digests.items()]))
    statements.append(
        ("UPDATE sync_meta SET revision = max(revision, ?) WHERE id = 1", [(effects.revision,)])
    )
    if effects.attachment_refs:
        statements.append(
            (
                "INSERT OR IGNORE INTO attachment_refs (sha256, record_id, client_id) VALUES (?, ?, ?)",
                [(r.sha256, r.record_id, r.client_id) for r in effects.attachment_refs],
            )
        )
    if effects.audit:
        rows, audit_head = audit_rows(effects.audit, audit_head)
        statements.append((_INSERT_AUDIT, rows))
    return statements, audit_head


class SqliteReadTx:
    """A consistent WAL snapshot on a reader connection (the snapshot starts at the first read)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def changes(self, warehouse_id: str, after: int, limit: int) -> list[Record]:
        rows = await self._conn.execute_fetchall(
            f"SELECT {RECORD_COLUMNS} FROM records WHERE warehouse_id = ? AND revision > ?"
            " ORDER BY revision LIMIT ?",
            (warehouse_id, after, limit),
        )
        return [record_from_row(row) for row in rows]

    async def change_feed(self, warehouse_id: str, after: int, limit: int) -> list[Change]:
        """The pull feed: what `changes()` returns, as Changes, with `fields` passed through as the
        stored JSON text (msgspec.Raw). The answer splices that text, so a page of thousands of
        records is neither decoded nor re-encoded, and the merge bookkeeping is never read."""
        rows = await self._conn.execute_fetchall(
            f"SELECT {FEED_COLUMNS} FROM records WHERE warehouse_id = ? AND revision > ?"
            " ORDER BY revision LIMIT ?",
            (warehouse_id, after, limit),
        )
        return [change_from_feed_row(row) for row in rows]

    async def digests(self, warehouse_ids: Sequence[str]) -> dict[str, Digest]:
        return await fetch_digests(self._conn, warehouse_ids)

    async def tombstone_horizon(self) -> int:
        rows = list(await self._conn.execute_fetchall("SELECT tombstone_horizon FROM sync_meta WHERE id = 1"))
        return int(rows[0][0])

    async def outcome_revisions(
        self, client_id: str, after_seq: int, limit: int
    ) -> list[tuple[int, str | None, int | None]]:
        rows = await self._conn.execute_fetchall(
            "SELECT seq, warehouse_id, revision FROM outcomes WHERE client_id = ? AND seq > ?"
            " ORDER BY seq LIMIT ?",
            (client_id, after_seq, limit),
        )
        return [(row[0], row[1], row[2]) for row in rows]

    async def missing_attachments(self, client_id: str) -> list[str]:
        rows = await self._conn.execute_fetchall(
            "SELECT DISTINCT r.sha256 FROM attachment_refs AS r"
            " LEFT JOIN attachments AS a ON a.sha256 = r.sha256"
            " WHERE r.client_id = ? AND a.sha256 IS NULL ORDER BY r.sha256",
            (client_id,),
        )
        return [row[0] for row in rows]
