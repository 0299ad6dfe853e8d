"""PostgreSQL implementation of the sync engine's transactions (sync.store.WriteTx and ReadTx).

Concurrency (see docs/postgres.md, "Why an advisory lock"):

* A write transaction runs at READ COMMITTED and its first statement takes the transaction-level
  advisory lock SYNC_LOCK (and AUDIT_LOCK after it, see below). Every later statement takes a
  fresh snapshot, so it sees everything the previous lock holder committed (PostgreSQL makes a
  commit visible before it releases the transaction's locks). Batches from every server process
  are therefore serialized: the client's last number, the records and the revision counter are
  read under the lock, and revisions are handed out in commit order.
* The audit chain is appended under AUDIT_LOCK, taken after SYNC_LOCK (never the other way round,
  so the two cannot deadlock), with the previous hash read inside the same transaction. A push
  batch takes both at once, so that its one read can include the chain's head.
* A read transaction is REPEATABLE READ READ ONLY: one snapshot for the changes, the digests and the
  outcome revisions of a pull. Because writers commit in revision order, any snapshot holds a prefix
  of the revision sequence and a cursor can never pass a change that commits later.

Round trips inside the lock are what every process's batches queue behind, and a database on
another host makes each one cost a network hop. So a push makes three after taking the locks: one
query reads everything it needs (`prefetch()`, the arrays of `ROW(...)` come back as tuples), one
statement writes everything (`commit()`: data-modifying CTEs over `unnest()` of one array per
column), and the COMMIT. A pull reads all but its changes in one query (`prefetch_pull()`). JSON
columns are TEXT written with msgspec, exactly as in the SQLite backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg
import msgspec

from server.storage.postgres.alerts import write_outbox
from server.storage.rows import (
    AUDIT_COLUMNS,
    HEAD_QUERY,
    audit_rows,
    change_from_feed_row,
    head_from_row,
    record_from_row,
    take_prefetched,
)
from sync import digest as digest_mod
from sync.audit import Head
from sync.domain import Member, Template
from sync.messages import Change, Digest, MutationResult
from sync.store import AuditEntry, BatchEffects, Record, StoredOutcome

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

_INSERT_AUDIT = (
    f"INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
)

LOCK_SYNC_AND_AUDIT = (
    f"DO $$BEGIN PERFORM pg_advisory_xact_lock({LOCK_NAMESPACE}, {SYNC_LOCK});"
    f" PERFORM pg_advisory_xact_lock({LOCK_NAMESPACE}, {AUDIT_LOCK}); END$$"
)
"""A push batch's locks in one round trip, SYNC_LOCK before AUDIT_LOCK (the order every holder of
both uses). AUDIT_LOCK is held from the start so that the prefetch can read the chain head."""

_PREFETCH = f"""
SELECT
    (SELECT last_seq FROM client_state WHERE client_id = $1),
    (SELECT revision FROM sync_meta WHERE id = 1),
    (SELECT ROW(id, hash, at) FROM audit_log ORDER BY id DESC LIMIT 1),
    ARRAY(SELECT ROW({RECORD_COLUMNS}) FROM records WHERE id = ANY($2::text[])),
    ARRAY(SELECT ROW(warehouse_id, count, checksum) FROM digests
          WHERE warehouse_id = ANY($3::text[])
             OR warehouse_id IN (SELECT warehouse_id FROM records WHERE id = ANY($2::text[]))),
    ARRAY(SELECT sha256 FROM attachments WHERE sha256 = ANY($4::text[]))
"""


class _Statement:
    """One SQL statement whose $n parameters are numbered as its parts are added."""

    def __init__(self) -> None:
        self.count = 0

    def params(self, *types: str) -> str:
        first, self.count = self.count + 1, self.count + len(types)
        return ", ".join(f"${first + i}::{t}" for i, t in enumerate(types))


def _commit_batch_sql() -> str:
    """Every write of a push batch as one statement: each table's rows as one array per column,
    inserted from unnest(); the audit rows with the ids their content was hashed with."""
    n = _Statement()
    records = n.params(
        "text[]", "text[]", "text[]", "bigint[]", "text[]", "text[]", "text[]", "text[]", "boolean[]",
        "text[]", "text[]", "text[]", "text[]",
    )  # fmt: skip
    outcomes = n.params(
        "text[]", "bigint[]", "text[]", "text[]", "text[]", "text[]", "text[]", "text[]", "bigint[]",
        "text[]", "bytea[]", "text[]",
    )  # fmt: skip
    client = n.params("text", "text", "bigint", "text")
    client_id = client.split(", ")[0]
    digests = n.params("text[]", "bigint[]", "text[]")
    refs = n.params("text[]", "text[]", "text[]", "text[]")
    audit = n.params("bigint[]", *("text[]",) * 8, "bytea[]", "text[]", "text[]")
    revision, notify, channel = n.params("bigint", "boolean", "text").split(", ")
    return f"""
WITH
upserted AS (
    INSERT INTO records ({RECORD_COLUMNS}) SELECT * FROM unnest({records})
    ON CONFLICT (id) DO UPDATE SET
        collection = excluded.collection, warehouse_id = excluded.warehouse_id,
        revision = excluded.revision, fields = excluded.fields, field_revs = excluded.field_revs,
        field_hlcs = excluded.field_hlcs, field_by = excluded.field_by, deleted = excluded.deleted,
        created_by = excluded.created_by, updated_by = excluded.updated_by,
        created_at = excluded.created_at, updated_at = excluded.updated_at
),
answered AS (
    INSERT INTO outcomes (client_id, seq, user_id, warehouse_id, collection, record_id, op, status,
                          revision, result, mutation, at)
    SELECT * FROM unnest({outcomes})
),
client AS (
    INSERT INTO client_state (client_id, user_id, last_seq, updated_at)
    SELECT {client} WHERE {client_id} <> ''
    ON CONFLICT (client_id) DO UPDATE SET user_id = excluded.user_id,
        last_seq = GREATEST(client_state.last_seq, excluded.last_seq), updated_at = excluded.updated_at
),
digested AS (
    INSERT INTO digests (warehouse_id, count, checksum) SELECT * FROM unnest({digests})
    ON CONFLICT (warehouse_id) DO UPDATE SET count = excluded.count, checksum = excluded.checksum
),
referenced AS (
    INSERT INTO attachment_refs (sha256, record_id, client_id, user_id) SELECT * FROM unnest({refs})
    ON CONFLICT DO NOTHING
),
audited AS (
    INSERT INTO audit_log ({AUDIT_COLUMNS}) SELECT * FROM unnest({audit})
)
UPDATE sync_meta SET revision = GREATEST(revision, {revision}) WHERE id = 1
RETURNING revision, CASE WHEN {notify} THEN pg_notify({channel}, revision::text) END
"""


_COMMIT_BATCH = _commit_batch_sql()


def _by_column(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows as one list per column (what unnest() takes back apart)."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


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
    rows, head = audit_rows(entries, head_from_row(await conn.fetchrow(HEAD_QUERY)))
    await conn.executemany(_INSERT_AUDIT, rows)
    return [head.id] if len(rows) == 1 else []


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


def outcome_row(o: StoredOutcome) -> tuple[Any, ...]:
    r = o.result
    return (o.client_id, o.seq, o.user_id, o.warehouse_id, o.collection, o.record_id, o.op, r.status,
            r.revision, text(r), o.mutation, o.at)  # fmt: skip


class PostgresWriteTx:
    """Reads of one write transaction, and the batch commit. Created by PostgresStorage.write()
    inside a READ COMMITTED transaction that already holds SYNC_LOCK and AUDIT_LOCK."""

    def __init__(self, conn: asyncpg.Connection, *, notify: bool = True) -> None:
        self._conn = conn
        self._notify = notify
        self.committed = False
        self.revision_committed: int | None = None
        """The revision after commit() when it changed records (what was NOTIFYed)."""
        self._audit_head: Head | None = None
        self._last_seq: dict[str, int] = {}
        self._revision: int | None = None
        self._records: dict[str, Sequence[Any] | None] = {}
        """Prefetched record rows by id (None: known not to exist); each is handed out once."""
        self._digests: dict[str, Digest] = {}
        self._present: dict[str, bool] = {}

    async def prefetch(
        self, client_id: str, ids: Sequence[str], warehouse_ids: Sequence[str], hashes: Sequence[str]
    ) -> None:
        """One round trip for what a push reads (sync.store.Prefetch): the client's last number,
        the revision, the audit chain's head, the records, the digests of their warehouses and of
        `warehouse_ids`, and the stored photos."""
        row = await self._conn.fetchrow(_PREFETCH, client_id, list(ids), list(warehouse_ids), list(hashes))
        last_seq, revision, head, records, digests, present = row
        self._last_seq[client_id] = int(last_seq or 0)
        self._revision = int(revision)
        self._audit_head = head_from_row(head)
        self._records.update(dict.fromkeys(ids))
        self._records.update((record[0], record) for record in records)
        found = {d[0]: Digest(count=d[1], checksum=d[2]) for d in digests}
        for warehouse_id in {*warehouse_ids, *(record[2] for record in records)}:
            self._digests[warehouse_id] = found.get(warehouse_id, digest_mod.EMPTY)
        stored = set(present)
        self._present.update((h, h in stored) for h in hashes)

    async def client_last_seq(self, client_id: str) -> int:
        if client_id not in self._last_seq:
            value = await self._conn.fetchval(
                "SELECT last_seq FROM client_state WHERE client_id = $1", client_id
            )
            self._last_seq[client_id] = int(value) if value is not None else 0
        return self._last_seq[client_id]

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
        rows, missing = take_prefetched(self._records, ids)
        if missing:
            rows += await self._conn.fetch(
                f"SELECT {RECORD_COLUMNS} FROM records WHERE id = ANY($1::text[])", missing
            )
        return {row[0]: record_from_row(row) for row in rows}

    async def revision(self) -> int:
        if self._revision is None:
            self._revision = int(await self._conn.fetchval("SELECT revision FROM sync_meta WHERE id = 1"))
        return self._revision

    async def digests(self, warehouse_ids: Sequence[str]) -> dict[str, Digest]:
        missing = [w for w in warehouse_ids if w not in self._digests]
        if missing:
            self._digests.update(await fetch_digests(self._conn, missing))
        return {w: self._digests[w] for w in warehouse_ids}

    async def attachments_present(self, hashes: Sequence[str]) -> set[str]:
        missing = [h for h in hashes if h not in self._present]
        if missing:
            found = await fetch_present(self._conn, missing)
            self._present.update((h, h in found) for h in missing)
        return {h for h in hashes if self._present[h]}

    async def template(self, template_id: str) -> Template | None:
        body = await self._conn.fetchval("SELECT body FROM templates WHERE id = $1", template_id)
        return _template(body) if body is not None else None

    async def members(self, warehouse_id: str) -> dict[str, Member]:
        rows = await self._conn.fetch(
            "SELECT u.id, u.role, u.agency FROM assignments a JOIN users u ON u.id = a.user_id"
            " WHERE a.warehouse_id = $1 AND NOT u.disabled",
            warehouse_id,
        )
        return {row[0]: Member(user_id=row[0], role=row[1], agency=row[2]) for row in rows}

    async def commit(self, effects: BatchEffects) -> None:
        """Everything the batch writes, in one statement (_COMMIT_BATCH)."""
        if self.committed:
            raise RuntimeError("commit() was already called in this transaction")
        conn = self._conn
        head = self._audit_head
        if head is None and effects.audit:  # not prefetched (tools, tests): AUDIT_LOCK is held
            head = head_from_row(await conn.fetchrow(HEAD_QUERY))
        audit, _ = audit_rows(effects.audit, head or Head())
        at = effects.outcomes[-1].at if effects.outcomes else ""
        row = await conn.fetchrow(
            _COMMIT_BATCH,
            # One row per record, its last state (one INSERT ... ON CONFLICT cannot update a row
            # twice; the engine sends each once, a tool might not).
            *_by_column([record_row(r) for r in {r.id: r for r in effects.records}.values()], 13),
            *_by_column([outcome_row(o) for o in effects.outcomes], 12),
            effects.client_id,
            effects.user_id,
            effects.last_seq,
            at,
            *_by_column([(w, d.count, d.checksum) for w, d in effects.digests.items()], 3),
            *_by_column(
                [(r.sha256, r.record_id, r.client_id, effects.user_id) for r in effects.attachment_refs], 4
            ),
            *_by_column(audit, 12),
            effects.revision,
            # Delivered to every LISTENing session when (and only if) this transaction commits,
            # in commit order.
            bool(effects.records) and self._notify,
            CHANNEL,
        )
        if effects.records:
            self.revision_committed = int(row[0])
        await write_outbox(conn, effects.alerts)  # alert events commit with their cause
        self.committed = True


class PostgresReadTx:
    """A REPEATABLE READ READ ONLY snapshot (taken at the first query) for one pull."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._horizon: int | None = None
        self._digests: dict[str, Digest] = {}
        self._outcomes: dict[tuple[str, int, int], list[tuple[int, str | None, int | None]]] = {}
        self._missing: dict[str, list[str]] = {}

    async def prefetch_pull(
        self, warehouse_ids: Sequence[str], client_id: str, after_seq: int, limit: int
    ) -> None:
        """All a pull reads but its changes, in one round trip (sync.store.PullPrefetch)."""
        horizon, digests, outcomes, missing = await self._conn.fetchrow(
            _PREFETCH_PULL, list(warehouse_ids), client_id, after_seq, limit
        )
        self._horizon = int(horizon)
        found = {d[0]: Digest(count=d[1], checksum=d[2]) for d in digests}
        self._digests.update((w, found.get(w, digest_mod.EMPTY)) for w in warehouse_ids)
        self._outcomes[(client_id, after_seq, limit)] = [(o[0], o[1], o[2]) for o in outcomes]
        self._missing[client_id] = list(missing)

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
        missing = [w for w in warehouse_ids if w not in self._digests]
        if missing:
            self._digests.update(await fetch_digests(self._conn, missing))
        return {w: self._digests[w] for w in warehouse_ids}

    async def tombstone_horizon(self) -> int:
        if self._horizon is None:
            self._horizon = int(
                await self._conn.fetchval("SELECT tombstone_horizon FROM sync_meta WHERE id = 1")
            )
        return self._horizon

    async def outcome_revisions(
        self, client_id: str, after_seq: int, limit: int
    ) -> list[tuple[int, str | None, int | None]]:
        key = (client_id, after_seq, limit)
        if key not in self._outcomes:
            rows = await self._conn.fetch(_SELECT_OUTCOME_REVISIONS, client_id, after_seq, limit)
            self._outcomes[key] = [(row[0], row[1], row[2]) for row in rows]
        return self._outcomes[key]

    async def missing_attachments(self, client_id: str) -> list[str]:
        if client_id not in self._missing:
            rows = await self._conn.fetch(_SELECT_MISSING_ATTACHMENTS, client_id)
            self._missing[client_id] = [row[0] for row in rows]
        return self._missing[client_id]


_SELECT_OUTCOME_REVISIONS = (
    "SELECT seq, warehouse_id, revision FROM outcomes WHERE client_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
)
_SELECT_MISSING_ATTACHMENTS = (
    'SELECT DISTINCT r.sha256 COLLATE "C" FROM attachment_refs AS r'
    " LEFT JOIN attachments AS a ON a.sha256 = r.sha256"
    " WHERE r.client_id = $1 AND a.sha256 IS NULL ORDER BY 1"
)
_PREFETCH_PULL = """
SELECT
    tombstone_horizon,
    ARRAY(SELECT ROW(warehouse_id, count, checksum) FROM digests WHERE warehouse_id = ANY($1::text[])),
    ARRAY(SELECT ROW(seq, warehouse_id, revision) FROM outcomes
          WHERE client_id = $2 AND seq > $3 ORDER BY seq LIMIT $4),
    ARRAY(SELECT DISTINCT r.sha256 COLLATE "C" FROM attachment_refs AS r
          LEFT JOIN attachments AS a ON a.sha256 = r.sha256
          WHERE r.client_id = $2 AND a.sha256 IS NULL ORDER BY 1)
FROM sync_meta WHERE id = 1
"""
"""PullPrefetch: the tombstone horizon, digests, outcome revisions and missing attachments (the
same queries as below) in one round trip."""
