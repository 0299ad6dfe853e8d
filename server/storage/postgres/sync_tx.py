"""PostgreSQL implementation of the sync engine's transactions (sync.store.WriteTx and ReadTx).

Concurrency (see docs/postgres.md, "Per-warehouse sequencing"):

* A write transaction runs at READ COMMITTED. Its first statement locks the pushing client's
  `client_state` row (its numbering and stored outcomes: a retry of the same push waits here), the
  second locks the `warehouse_state` row of every warehouse the push may write (those it names and
  those of the records it names), FOR UPDATE in sorted order, so two pushes never deadlock. Every
  later statement takes a fresh snapshot, so it sees everything the previous holders of those rows
  committed (PostgreSQL makes a commit visible before it releases the transaction's locks), and a
  warehouse's revisions are handed out in commit order. Pushes to different warehouses share no
  lock, row or sequence.
* A warehouse's audit chain is appended only by a holder of its warehouse_state row, which also
  holds the chain's head; the system chain ('') is its own row, locked last (after any
  warehouse), by logins, admin actions and the rare push that files a refused mutation under no
  warehouse.
* A read transaction is REPEATABLE READ READ ONLY: one snapshot for the changes, the digests and the
  outcome revisions of a pull. Because each warehouse's writers commit in revision order, any
  snapshot holds a prefix of each warehouse's revisions and a cursor can never pass a change that
  commits later.

Round trips inside the locks are what a warehouse's pushes queue behind, and a database on another
host makes each one cost a network hop. So a push makes five: the client lock, the warehouse locks
(which return the counters and chain heads), one query that reads everything else it needs
(`prefetch()`), one statement that writes everything (`commit()`: data-modifying CTEs over
`unnest()` of one array per column, the NOTIFY naming the warehouses) and the COMMIT. A pull reads
all but its changes in one query (`prefetch_pull()`). JSON columns are TEXT written with msgspec,
exactly as in the SQLite backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg
import msgspec

from server import summaries
from server.storage import device_sync as ds
from server.storage.postgres.alerts import write_outbox
from server.storage.rows import (
    AUDIT_COLUMNS,
    STATE_COLUMNS,
    Held,
    audit_rows,
    change_from_feed_row,
    held_from_row,
    record_from_row,
    state_rows,
    take_prefetched,
)
from sync import digest as digest_mod
from sync.audit import GENESIS, SYSTEM_CHAIN, chain_of
from sync.domain import Member, Template
from sync.messages import Change, Digest, MutationResult
from sync.store import AuditEntry, BatchEffects, Record, ReportCounter, StoredOutcome

LOCK_NAMESPACE = 0x54504C52
"""First key of every advisory lock this backend takes ("TPLR"), so they cannot collide with
another application's locks in a shared database."""
MIGRATE_LOCK = 3
"""Second key: applying a migration (the only advisory lock left)."""

CHANNEL = "tigapilar_changes"
"""NOTIFY channel: a sync commit that changed records sends the warehouses it wrote (notify.py)."""

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

LOCK_CLIENT = """
INSERT INTO client_state AS c (client_id, user_id, last_seq, updated_at) VALUES ($1, '', 0, '')
ON CONFLICT (client_id) DO UPDATE SET client_id = c.client_id
RETURNING last_seq
"""
"""The client's row, locked (created if new: it stays only if the push commits); returns its last
number as the previous holder committed it."""

LOCK_PUSH = f"""
WITH client AS (
    INSERT INTO client_state AS c (client_id, user_id, last_seq, updated_at)
    SELECT $1, '', 0, '' WHERE $1 <> ''
    ON CONFLICT (client_id) DO UPDATE SET client_id = c.client_id
    RETURNING last_seq
),
wanted AS (
    SELECT w FROM unnest($2::text[]) AS w
    UNION SELECT warehouse_id FROM records WHERE id = ANY($3::text[])
),
held AS (
    INSERT INTO warehouse_state AS s ({STATE_COLUMNS})
    SELECT w, 0, 0, 0, '{GENESIS}', '' FROM wanted CROSS JOIN (SELECT count(*) FROM client) AS first
    ORDER BY w COLLATE "C"
    ON CONFLICT (warehouse_id) DO UPDATE SET warehouse_id = s.warehouse_id
    RETURNING {STATE_COLUMNS}
)
SELECT (SELECT last_seq FROM client), ARRAY(SELECT ROW({STATE_COLUMNS}) FROM held)
"""
"""A push's locks in one round trip: the client's row first (the join makes the warehouses wait for
it), then the warehouse_state rows of `$2` and of the records `$3`'s warehouses in sorted order
(LOCK_CLIENT, LOCK_WAREHOUSES). Records created since in a warehouse not named are caught by the
prefetch (PostgresWriteTx.prefetch: held late, read again)."""

LOCK_WAREHOUSES = f"""
INSERT INTO warehouse_state AS s ({STATE_COLUMNS})
SELECT w, 0, 0, 0, '{GENESIS}', '' FROM (
    SELECT DISTINCT w FROM unnest($1::text[]) AS w
    UNION SELECT warehouse_id FROM records WHERE id = ANY($2::text[])
) AS wanted
ORDER BY w COLLATE "C"
ON CONFLICT (warehouse_id) DO UPDATE SET warehouse_id = s.warehouse_id
RETURNING {STATE_COLUMNS}
"""
"""The warehouse_state rows of `$1` and of the warehouses of the records `$2`, locked in sorted
order (created at zero for a warehouse never written), as their previous holders committed them."""

_REPORT_COUNTER = """
WITH created AS (
    INSERT INTO report_counters (warehouse_id, year, last) VALUES ($1, $2, 0)
    ON CONFLICT (warehouse_id, year) DO NOTHING
    RETURNING last
)
SELECT (SELECT code FROM warehouses WHERE id = $1),
       coalesce((SELECT last FROM created),
                (SELECT last FROM report_counters WHERE warehouse_id = $1 AND year = $2))
"""
"""The (warehouse, year) counter's last number, its row created at 0 if missing, and the warehouse's
code, in one round trip. Called with the warehouse's lock held (PostgresWriteTx.report_counter)."""


_PREFETCH = f"""
SELECT
    ARRAY(SELECT ROW({RECORD_COLUMNS}) FROM records WHERE id = ANY($1::text[])),
    ARRAY(SELECT ROW(warehouse_id, count, checksum) FROM digests WHERE warehouse_id = ANY($2::text[])),
    ARRAY(SELECT sha256 FROM attachments WHERE sha256 = ANY($3::text[])),
    ARRAY(SELECT ROW(warehouse_id, revision, summary) FROM warehouse_summary
          WHERE warehouse_id = ANY($2::text[]))
"""
"""What a push reads once it holds its warehouses: the records, the digests and stored summaries of
the warehouses, the stored photos."""

_SUMMARY_INPUTS = f"""
SELECT
    ARRAY(SELECT ROW({RECORD_COLUMNS}) FROM records WHERE id = ANY($1::text[])),
    ARRAY(SELECT ROW(warehouse_id, revision, summary) FROM warehouse_summary
          WHERE warehouse_id = ANY($2::text[]))
"""
"""The records and stored summaries a push's summaries need that it did not read already."""


class _Statement:
    """One SQL statement whose $n parameters are numbered as its parts are added."""

    def __init__(self) -> None:
        self.count = 0

    def params(self, *types: str) -> str:
        first, self.count = self.count + 1, self.count + len(types)
        return ", ".join(f"${first + i}::{t}" for i, t in enumerate(types))


def _commit_batch_sql() -> str:
    """Every write of a push batch as one statement: each table's rows as one array per column,
    inserted from unnest(); the audit rows with the ids their content was hashed with; the
    warehouses' counters and chain heads."""
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
    refs = n.params("text[]", "text[]", "text[]", "text[]", "text[]")
    ref_sha, _, ref_client = refs.split(", ")[:3]
    audit = n.params("bigint[]", *("text[]",) * 7, "bytea[]", "text[]", "text[]", "text[]")
    states = n.params("text[]", "bigint[]", "bigint[]", "bigint[]", "text[]", "text[]")
    moved = n.params("bigint[]", "text[]", "bigint[]")
    kept = n.params("bigint[]", "text[]", "text[]", "bigint[]")
    notify, channel, payload = n.params("boolean", "text", "text").split(", ")
    return f"""
WITH
upserted AS (
    INSERT INTO records ({RECORD_COLUMNS}) SELECT * FROM unnest({records})
    ON CONFLICT (warehouse_id, id) DO UPDATE SET
        collection = excluded.collection,
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
    -- With the photos the client still owes, recounted with the references this push adds
    -- (sibling CTEs do not see each other's rows: its new ones come from the parameters), so a
    -- push with photos needs no statement more under its locks (device freshness, migration 0010).
    INSERT INTO client_state (client_id, user_id, last_seq, updated_at, missing_attachments)
    SELECT {client}, CASE WHEN {client_id} = ANY({ref_client}) THEN (
        SELECT count(DISTINCT u.sha256) FROM (
            SELECT r.sha256 FROM attachment_refs AS r WHERE r.client_id = {client_id}
            UNION SELECT t.sha256 FROM unnest({ref_sha}, {ref_client}) AS t (sha256, client_id)
            WHERE t.client_id = {client_id}
        ) AS u WHERE NOT EXISTS (SELECT 1 FROM attachments AS a WHERE a.sha256 = u.sha256)
    ) ELSE 0 END
    WHERE {client_id} <> ''
    ON CONFLICT (client_id) DO UPDATE SET user_id = excluded.user_id,
        last_seq = GREATEST(client_state.last_seq, excluded.last_seq), updated_at = excluded.updated_at,
        missing_attachments = CASE WHEN {client_id} = ANY({ref_client}) THEN excluded.missing_attachments
            ELSE client_state.missing_attachments END
),
digested AS (
    INSERT INTO digests (warehouse_id, count, checksum) SELECT * FROM unnest({digests})
    ON CONFLICT (warehouse_id) DO UPDATE SET count = excluded.count, checksum = excluded.checksum
),
referenced AS (
    INSERT INTO attachment_refs (sha256, record_id, client_id, user_id, warehouse_id)
    SELECT * FROM unnest({refs})
    ON CONFLICT DO NOTHING
),
audited AS (
    INSERT INTO audit_log ({AUDIT_COLUMNS}) SELECT * FROM unnest({audit})
),
counted AS (
    INSERT INTO warehouse_state ({STATE_COLUMNS}) SELECT * FROM unnest({states})
    ON CONFLICT (warehouse_id) DO UPDATE SET
        revision = GREATEST(warehouse_state.revision, excluded.revision),
        audit_id = excluded.audit_id, audit_hash = excluded.audit_hash, audit_at = excluded.audit_at
),
followed AS (
    UPDATE warehouse_summary AS s SET revision = f.revision
    FROM unnest({moved}) AS f (revision, warehouse_id, was)
    WHERE s.warehouse_id = f.warehouse_id AND s.revision = f.was
),
applied AS (
    UPDATE warehouse_summary AS s SET revision = k.revision, summary = k.summary
    FROM unnest({kept}) AS k (revision, summary, warehouse_id, was)
    WHERE s.warehouse_id = k.warehouse_id AND s.revision = k.was
)
SELECT CASE WHEN {notify} THEN pg_notify({channel}, {payload}) END
"""


_COMMIT_BATCH = _commit_batch_sql()

NOTIFY_MAX = 7000
"""Bytes of warehouse ids a NOTIFY payload carries at most (PostgreSQL's limit is 8000); a commit
that wrote more warehouses than fit says "*": every stream looks again."""


def notify_payload(warehouse_ids: Iterable[str]) -> str:
    """The NOTIFY payload of a commit: the warehouses it wrote, comma-separated (ids hold no comma:
    server/models.py), or "*"."""
    payload = ",".join(sorted(warehouse_ids))
    return payload if len(payload.encode()) <= NOTIFY_MAX and payload else "*"


def _by_column(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows as one list per column (what unnest() takes back apart)."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


def text(value: Any) -> str:
    return _encode(value).decode()


_RECOUNT_MISSING = ds.recount_clients("client_id = ANY($1::text[])")


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


async def hold_warehouses(
    conn: asyncpg.Connection, warehouse_ids: Sequence[str], record_ids: Sequence[str] = ()
) -> dict[str, Held]:
    """Lock the warehouse_state rows of `warehouse_ids` and of the warehouses of `record_ids`
    (LOCK_WAREHOUSES) inside the caller's transaction; their state as last committed."""
    rows = await conn.fetch(LOCK_WAREHOUSES, sorted(set(warehouse_ids)), list(record_ids))
    return dict(held_from_row(row) for row in rows)


async def hold_chains(conn: asyncpg.Connection, chains: Iterable[str]) -> dict[str, Held]:
    """Hold the rows of these chains' warehouses, then the system chain's: the order of every
    holder of both, so appends never deadlock."""
    wanted = set(chains)
    held = await hold_warehouses(conn, sorted(wanted - {SYSTEM_CHAIN})) if wanted - {SYSTEM_CHAIN} else {}
    if SYSTEM_CHAIN in wanted:
        held.update(await hold_warehouses(conn, [SYSTEM_CHAIN]))
    return held


async def append_audit_entries(conn: asyncpg.Connection, entries: Sequence[AuditEntry]) -> list[int]:
    """Append entries to their chains inside the caller's transaction; returns each entry's id in
    its chain. Holds each chain's warehouse_state row first (hold_chains), so no other transaction
    appends to those chains until this one ends and no chain forks."""
    if not entries:
        return []
    held = await hold_chains(conn, {chain_of(e) for e in entries})
    rows, heads = audit_rows(entries, {chain: state.head for chain, state in held.items()})
    await conn.executemany(_INSERT_AUDIT, rows)
    await conn.executemany(_UPSERT_STATE, state_rows({}, heads, held))
    return [int(row[0]) for row in rows]


_UPSERT_STATE = (
    f"INSERT INTO warehouse_state ({STATE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
    " ON CONFLICT (warehouse_id) DO UPDATE SET"
    " revision = GREATEST(warehouse_state.revision, excluded.revision),"
    " audit_id = excluded.audit_id, audit_hash = excluded.audit_hash, audit_at = excluded.audit_at"
)


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
    inside a READ COMMITTED transaction; prefetch() takes the locks (a tool that calls revisions()
    or commit() without it has them taken there)."""

    def __init__(self, conn: asyncpg.Connection, *, notify: bool = True) -> None:
        self._conn = conn
        self._notify = notify
        self.committed = False
        self.warehouses_committed: list[str] = []
        """The warehouses whose records commit() changed (what was NOTIFYed)."""
        self.held: dict[str, Held] = {}
        """The warehouse_state rows this transaction holds, as it read them."""
        self._last_seq: dict[str, int] = {}
        self._records: dict[str, Sequence[Any] | None] = {}
        """Prefetched record rows by id (None: known not to exist); each is handed out once."""
        self._digests: dict[str, Digest] = {}
        self._present: dict[str, bool] = {}
        self._before: dict[str, Record | None] = {}
        """Each record this push read, as it was before the push (None: it did not exist)."""
        self._summaries: dict[str, tuple[int, str]] = {}
        """The stored summary (revision, summary) of each held warehouse that has one."""
        self._summaries_read: set[str] = set()

    async def prefetch(
        self, client_id: str, ids: Sequence[str], warehouse_ids: Sequence[str], hashes: Sequence[str]
    ) -> None:
        """The locks (client, then warehouses), then one round trip for what a push reads
        (sync.store.Prefetch): the records, the digests of their warehouses and the stored photos."""
        conn = self._conn
        last_seq, held = await conn.fetchrow(LOCK_PUSH, client_id, sorted(set(warehouse_ids)), list(ids))
        if client_id:
            self._last_seq[client_id] = int(last_seq)
        self.held.update(held_from_row(row) for row in held)
        records, digests, present, stored = await conn.fetchrow(
            _PREFETCH, list(ids), sorted(self.held), list(hashes)
        )
        late = sorted({record[2] for record in records} - self.held.keys())
        if late:
            # A record created in another warehouse since the lock statement read: hold that
            # warehouse too (out of order: a deadlock is detected and the push retried), and read
            # its records again now that nobody else can change them.
            self.held.update(await hold_warehouses(conn, late))
            records, digests, present, stored = await conn.fetchrow(
                _PREFETCH, list(ids), sorted(self.held), list(hashes)
            )
        self._summaries.update((row[0], (int(row[1]), row[2])) for row in stored)
        self._summaries_read.update(self.held)
        self._records.update(dict.fromkeys(ids))
        self._records.update((record[0], record) for record in records)
        found = {d[0]: Digest(count=d[1], checksum=d[2]) for d in digests}
        for warehouse_id in self.held:
            self._digests[warehouse_id] = found.get(warehouse_id, digest_mod.EMPTY)
        stored = set(present)
        self._present.update((h, h in stored) for h in hashes)

    async def client_last_seq(self, client_id: str) -> int:
        if client_id not in self._last_seq:
            value = await self._conn.fetchval(LOCK_CLIENT, client_id) if client_id else 0
            self._last_seq[client_id] = int(value or 0)
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
        found = {row[0]: record_from_row(row) for row in rows}
        for record_id in ids:
            self._before.setdefault(record_id, found.get(record_id))
        return found

    async def _hold(self, warehouse_ids: Iterable[str]) -> None:
        missing = sorted(set(warehouse_ids) - self.held.keys())
        if missing:
            self.held.update(await hold_warehouses(self._conn, missing))

    async def revisions(self, warehouse_ids: Sequence[str]) -> dict[str, int]:
        await self._hold(warehouse_ids)
        return {w: self.held[w].revision for w in warehouse_ids}

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

    async def report_counter(self, warehouse_id: str, year: int) -> ReportCounter:
        """The counter of (warehouse, year), read under the warehouse's lock (its warehouse_state
        row, held until this transaction ends, as every push that writes there holds it): a
        concurrent submit in the same warehouse, in any server process, waits for that lock and
        then reads the number this one leaves. The row is created here if missing, so commit()
        only updates it."""
        await self._hold([warehouse_id])
        code, last = await self._conn.fetchrow(_REPORT_COUNTER, warehouse_id, year)
        return ReportCounter(warehouse_code=code or warehouse_id, last=int(last))

    async def _summaries_after(self, effects: BatchEffects) -> summaries.PushSummaries:
        """What the push does to the summaries of the warehouses it writes (server/summaries.py):
        each that held moves on with it, its changes applied, in O(records written)."""
        unread = summaries.unread(effects.records, self._before)
        unheld = sorted(effects.revisions.keys() - self._summaries_read)
        if unread or unheld:  # a conflict the push filed, a warehouse held late, a tool's write
            rows, stored = await self._conn.fetchrow(_SUMMARY_INPUTS, unread, unheld)
            found = {row[0]: record_from_row(row) for row in rows}
            self._before.update((record_id, found.get(record_id)) for record_id in unread)
            self._summaries.update((row[0], (int(row[1]), row[2])) for row in stored)
            self._summaries_read.update(unheld)
        held = {w: state.revision for w, state in self.held.items()}
        return summaries.after_push(effects.records, self._before, effects.revisions, held, self._summaries)

    async def commit(self, effects: BatchEffects) -> None:
        """Everything the batch writes, in one statement (_COMMIT_BATCH); the berita acara
        counters a submit moved, in one more before it."""
        if self.committed:
            raise RuntimeError("commit() was already called in this transaction")
        conn = self._conn
        missing = (effects.revisions.keys() | {chain_of(e) for e in effects.audit}) - self.held.keys()
        if missing:
            self.held.update(await hold_chains(conn, missing))
        audit, heads = audit_rows(effects.audit, {chain: state.head for chain, state in self.held.items()})
        if effects.report_numbers:
            await conn.executemany(
                "UPDATE report_counters SET last = $3 WHERE warehouse_id = $1 AND year = $2",
                [(c.warehouse_id, c.year, c.last) for c in effects.report_numbers],
            )
        at = effects.outcomes[-1].at if effects.outcomes else ""
        records = {r.id: r for r in effects.records}
        written = sorted({r.warehouse_id for r in records.values()})
        summarized = await self._summaries_after(effects)
        await conn.execute(
            _COMMIT_BATCH,
            # One row per record, its last state (one INSERT ... ON CONFLICT cannot update a row
            # twice; the engine sends each once, a tool might not).
            *_by_column([record_row(r) for r in records.values()], 13),
            *_by_column([outcome_row(o) for o in effects.outcomes], 12),
            effects.client_id,
            effects.user_id,
            effects.last_seq,
            at,
            *_by_column([(w, d.count, d.checksum) for w, d in effects.digests.items()], 3),
            *_by_column(
                [
                    (r.sha256, r.record_id, r.client_id, effects.user_id, r.warehouse_id)
                    for r in effects.attachment_refs
                ],
                5,
            ),
            *_by_column(audit, 12),
            *_by_column(state_rows(effects.revisions, heads, self.held), 6),
            *_by_column(summarized.moved, 3),
            *_by_column(summarized.kept, 4),
            # Delivered to every LISTENing session when (and only if) this transaction commits,
            # in commit order; it names the warehouses written, so a stream wakes only for its own.
            bool(written) and self._notify,
            CHANNEL,
            notify_payload(written),
        )
        others = sorted({r.client_id for r in effects.attachment_refs} - {effects.client_id})
        if others:
            # References written for other clients (a tool's push, never a phone's): their counts
            # are recounted after the write, one statement more.
            await conn.execute(_RECOUNT_MISSING, str_list(others))
        self.warehouses_committed = written
        await write_outbox(conn, effects.alerts)  # alert events commit with their cause
        self.committed = True


class PostgresReadTx:
    """A REPEATABLE READ READ ONLY snapshot (taken at the first query) for one pull."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._horizons: dict[str, int] = {}
        self._digests: dict[str, Digest] = {}
        self._outcomes: dict[tuple[str, int, int], list[tuple[int, str | None, int | None]]] = {}
        self._missing: dict[str, list[str]] = {}

    async def prefetch_pull(
        self, warehouse_ids: Sequence[str], client_id: str, after_seq: int, limit: int
    ) -> None:
        """All a pull reads but its changes, in one round trip (sync.store.PullPrefetch)."""
        horizons, digests, outcomes, missing = await self._conn.fetchrow(
            _PREFETCH_PULL, list(warehouse_ids), client_id, after_seq, limit
        )
        self._horizons.update(dict.fromkeys(warehouse_ids, 0))
        self._horizons.update((h[0], int(h[1])) for h in horizons)
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

    async def tombstone_horizons(self, warehouse_ids: Sequence[str]) -> dict[str, int]:
        missing = [w for w in warehouse_ids if w not in self._horizons]
        if missing:
            self._horizons.update(dict.fromkeys(missing, 0))
            rows = await self._conn.fetch(
                "SELECT warehouse_id, tombstone_horizon FROM warehouse_state"
                " WHERE warehouse_id = ANY($1::text[]) AND tombstone_horizon > 0",
                missing,
            )
            self._horizons.update((row[0], int(row[1])) for row in rows)
        return {w: self._horizons[w] for w in warehouse_ids}

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
    ARRAY(SELECT ROW(warehouse_id, tombstone_horizon) FROM warehouse_state
          WHERE warehouse_id = ANY($1::text[]) AND tombstone_horizon > 0),
    ARRAY(SELECT ROW(warehouse_id, count, checksum) FROM digests WHERE warehouse_id = ANY($1::text[])),
    ARRAY(SELECT ROW(seq, warehouse_id, revision) FROM outcomes
          WHERE client_id = $2 AND seq > $3 ORDER BY seq LIMIT $4),
    ARRAY(SELECT DISTINCT r.sha256 COLLATE "C" FROM attachment_refs AS r
          LEFT JOIN attachments AS a ON a.sha256 = r.sha256
          WHERE r.client_id = $2 AND a.sha256 IS NULL ORDER BY 1)
"""
"""PullPrefetch: the tombstone horizons, digests, outcome revisions and missing attachments (the
same queries as below) in one round trip."""
