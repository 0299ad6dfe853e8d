"""PostgreSQL implementation of the sync engine's transactions (sync.store.WriteTx and ReadTx).

Concurrency (see docs/postgres.md, "Why an advisory lock"):

* A write transaction runs at READ COMMITTED and its first statement takes the transaction-level
  advisory lock SYNC_LOCK. Every later statement takes a fresh snapshot, so it sees everything the
  previous lock holder committed (PostgreSQL makes a commit visible before it releases the
  transaction's locks). Batches from every server process are therefore serialized: the client's
  last number, the records and the revision counter are read under the lock, and revisions are
  handed out in commit order.
* The audit chain is appended under AUDIT_LOCK, taken after SYNC_LOCK (never the other way round,
  so the two cannot deadlock), with the previous hash read inside the same transaction.
* A read transaction is REPEATABLE READ READ ONLY: one snapshot for the changes, the digests and the
  outcome revisions of a pull. Because writers commit in revision order, any snapshot holds a prefix
  of the revision sequence and a cursor can never pass a change that commits later.

Batch reads are one query each (`= ANY($1::text[])`), batch writes are executemany (pipelined by
asyncpg), and JSON columns are TEXT written with msgspec, exactly as in the SQLite backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg
import msgspec

from server.storage.rows import audit_rows, change_from_feed_row, record_from_row
from sync import digest as digest_mod
from sync.audit import GENESIS
from sync.domain import Template
from sync.messages import Change, Digest, MutationResult
from sync.store import AuditEntry, BatchEffects, Record

LOCK_NAMESPACE = 0x54504C52
"""First key of every advisory lock this backend takes ("TPLR"), so they cannot collide with
another application's locks in a shared database."""
SYNC_LOCK = 1
"""Second key: the sync write transaction (one push batch)."""
AUDIT_LOCK = 2
"""Second key: appending to the audit hash chain."""
MIGRATE_LOCK = 3
"""Second key: applying a migration."""

CHANNEL = "tigapilar_changes"
"""NOTIFY channel: a sync commit that changed records sends its new revision as the payload."""

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
INSERT INTO records ({RECORD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
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
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
"""

_INSERT_AUDIT = """
INSERT INTO audit_log (at, kind, actor_id, actor_agency, device, warehouse_id, subject, detail,
                       content, prev_hash, hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
"""

_UPSERT_CLIENT = """
INSERT INTO client_state (client_id, user_id, last_seq, updated_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (client_id) DO UPDATE SET user_id = excluded.user_id,
    last_seq = GREATEST(client_state.last_seq, excluded.last_seq), updated_at = excluded.updated_at
"""

_UPSERT_DIGEST = """
INSERT INTO digests (warehouse_id, count, checksum) VALUES ($1, $2, $3)
ON CONFLICT (warehouse_id) DO UPDATE SET count = excluded.count, checksum = excluded.checksum
"""


def text(value: Any) -> str:
    return _encode(value).decode()


def str_list(values: Iterable[str]) -> list[str]:
    return list(values)


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
        bool(record.deleted),
        record.created_by,
        record.updated_by,
        record.created_at,
        record.updated_at,
    )


async def lock(conn: asyncpg.Connection, key: int) -> None:
    """Take one of this backend's transaction-level advisory locks (released at commit/rollback)."""
    await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_NAMESPACE, key)


async def append_audit_entries(conn: asyncpg.Connection, entries: Sequence[AuditEntry]) -> list[int]:
    """Append entries to the hash chain inside the caller's transaction; returns the id of a single
    entry (a batch returns no ids).

    Takes AUDIT_LOCK first, then reads the chain head: the read sees every entry committed by any
    process before the lock was granted, and no other process can append until this transaction
    ends, so the chain never forks."""
    if not entries:
        return []
    await lock(conn, AUDIT_LOCK)
    head = await conn.fetchval("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1") or GENESIS
    rows, _ = audit_rows(entries, head)
    if len(rows) == 1:
        return [int(await conn.fetchval(_INSERT_AUDIT.strip() + " RETURNING id", *rows[0]))]
    # executemany inserts row after row, so the identity ids follow the chain order.
    await conn.executemany(_INSERT_AUDIT, rows)
    return []


async def fetch_digests(conn: asyncpg.Connection, warehouse_ids: Sequence[str]) -> dict[str, Digest]:
    """Digest of each requested warehouse; one without records has the empty digest."""
    if not warehouse_ids:
        return {}
    rows = await conn.fetch(
        "SELECT warehouse_id, count, checksum FROM digests WHERE warehouse_id = ANY($1::text[])",
        str_list(warehouse_ids),
    )
    found = {row[0]: Digest(count=row[1], checksum=row[2]) for row in rows}
    return {wid: found.get(wid, digest_mod.EMPTY) for wid in warehouse_ids}


async def fetch_present(conn: asyncpg.Connection, hashes: Sequence[str]) -> set[str]:
    if not hashes:
        return set()
    rows = await conn.fetch("SELECT sha256 FROM attachments WHERE sha256 = ANY($1::text[])", str_list(hashes))
    return {row[0] for row in rows}


class PostgresWriteTx:
    """Reads of one write transaction, and the batch commit. Created by PostgresStorage.write()
    inside a READ COMMITTED transaction that already holds SYNC_LOCK."""

    def __init__(self, conn: asyncpg.Connection, *, notify: bool = True) -> None:
        self._conn = conn
        self._notify = notify
        self.committed = False
        self.revision_committed: int | None = None
        """The revision after commit() when it changed records (what was NOTIFYed)."""

    async def client_last_seq(self, client_id: str) -> int:
        value = await self._conn.fetchval("SELECT last_seq FROM client_state WHERE client_id = $1", client_id)
        return int(value) if value is not None else 0

    async def outcomes(self, client_id: str, seqs: Sequence[int]) -> dict[int, MutationResult]:
        if not seqs:
            return {}
        rows = await self._conn.fetch(
            "SELECT seq, result FROM outcomes WHERE client_id = $1 AND seq = ANY($2::bigint[])",
            client_id,
            list(seqs),
        )
        return {row[0]: _result(row[1]) for row in rows}

    async def records(self, ids: Sequence[str]) -> dict[str, Record]:
        if not ids:
            return {}
        rows = await self._conn.fetch(
            f"SELECT {RECORD_COLUMNS} FROM records WHERE id = ANY($1::text[])", str_list(ids)
        )
        return {row[0]: record_from_row(row) for row in rows}

    async def revision(self) -> int:
        return int(await self._conn.fetchval("SELECT revision FROM sync_meta WHERE id = 1"))

    async def digests(self, warehouse_ids: Sequence[str]) -> dict[str, Digest]:
        return await fetch_digests(self._conn, warehouse_ids)

    async def attachments_present(self, hashes: Sequence[str]) -> set[str]:
        return await fetch_present(self._conn, hashes)

    async def template(self, template_id: str) -> Template | None:
        body = await self._conn.fetchval("SELECT body FROM templates WHERE id = $1", template_id)
        return _template(body) if body is not None else None

    async def commit(self, effects: BatchEffects) -> None:
        if self.committed:
            raise RuntimeError("commit() was already called in this transaction")
        conn = self._conn
        if effects.records:
            await conn.executemany(_UPSERT_RECORD, [record_row(r) for r in effects.records])
        if effects.outcomes:
            await conn.executemany(
                _INSERT_OUTCOME,
                [
                    (
                        o.client_id,
                        o.seq,
                        o.user_id,
                        o.warehouse_id,
                        o.collection,
                        o.record_id,
                        o.op,
                        o.result.status,
                        o.result.revision,
                        text(o.result),
                        o.mutation,
                        o.at,
                    )
                    for o in effects.outcomes
                ],
            )
        if effects.client_id:
            await conn.execute(
                _UPSERT_CLIENT,
                effects.client_id,
                effects.user_id,
                effects.last_seq,
                effects.outcomes[-1].at if effects.outcomes else "",
            )
        if effects.digests:
            await conn.executemany(
                _UPSERT_DIGEST, [(wid, d.count, d.checksum) for wid, d in effects.digests.items()]
            )
        revision = await conn.fetchval(
            "UPDATE sync_meta SET revision = GREATEST(revision, $1) WHERE id = 1 RETURNING revision",
            effects.revision,
        )
        if effects.attachment_refs:
            await conn.executemany(
                "INSERT INTO attachment_refs (sha256, record_id, client_id) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING",
                [(r.sha256, r.record_id, r.client_id) for r in effects.attachment_refs],
            )
        if effects.audit:
            await append_audit_entries(conn, effects.audit)
        if effects.records and self._notify:
            # Delivered to every LISTENing session when (and only if) this transaction commits,
            # in commit order.
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, str(revision))
        if effects.records:
            self.revision_committed = int(revision)
        self.committed = True


class PostgresReadTx:
    """A REPEATABLE READ READ ONLY snapshot (taken at the first query) for one pull."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def changes(self, warehouse_id: str, after: int, limit: int) -> list[Record]:
        rows = await self._conn.fetch(
            f"SELECT {RECORD_COLUMNS} FROM records WHERE warehouse_id = $1 AND revision > $2"
            " ORDER BY revision LIMIT $3",
            warehouse_id,
            after,
            limit,
        )
        return [record_from_row(row) for row in rows]

    async def change_feed(self, warehouse_id: str, after: int, limit: int) -> list[Change]:
        """The pull feed (sync.engine.ChangeFeed): Changes with `fields` passed through as the stored
        JSON text (msgspec.Raw), neither decoded nor re-encoded; as in the SQLite backend."""
        rows = await self._conn.fetch(
            f"SELECT {FEED_COLUMNS} FROM records WHERE warehouse_id = $1 AND revision > $2"
            " ORDER BY revision LIMIT $3",
            warehouse_id,
            after,
            limit,
        )
        return [change_from_feed_row(row) for row in rows]

    async def digests(self, warehouse_ids: Sequence[str]) -> dict[str, Digest]:
        return await fetch_digests(self._conn, warehouse_ids)

    async def tombstone_horizon(self) -> int:
        return int(await self._conn.fetchval("SELECT tombstone_horizon FROM sync_meta WHERE id = 1"))

    async def outcome_revisions(
        self, client_id: str, after_seq: int, limit: int
    ) -> list[tuple[int, str | None, int | None]]:
        rows = await self._conn.fetch(
            "SELECT seq, warehouse_id, revision FROM outcomes WHERE client_id = $1 AND seq > $2"
            " ORDER BY seq LIMIT $3",
            client_id,
            after_seq,
            limit,
        )
        return [(row[0], row[1], row[2]) for row in rows]

    async def missing_attachments(self, client_id: str) -> list[str]:
        rows = await self._conn.fetch(
            'SELECT DISTINCT r.sha256 COLLATE "C" FROM attachment_refs AS r'
            " LEFT JOIN attachments AS a ON a.sha256 = r.sha256"
            " WHERE r.client_id = $1 AND a.sha256 IS NULL ORDER BY 1",
            client_id,
        )
        return [row[0] for row in rows]
