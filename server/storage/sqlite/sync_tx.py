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

from server import summaries
from server.storage import device_sync as ds
from server.storage.feed_cache import FeedCache
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
from server.storage.sqlite.alerts import outbox_statements
from sync import digest as digest_mod
from sync.audit import SYSTEM_CHAIN, Head, chain_of
from sync.domain import Member, Template
from sync.messages import Change, Digest, MutationResult
from sync.store import BatchEffects, Record, ReportCounter, StoredOutcome

_encode = msgspec.json.Encoder().encode
_result = msgspec.json.Decoder(MutationResult).decode
_template = msgspec.json.Decoder(Template).decode

RECORD_COLUMNS = (
    "id, collection, warehouse_id, revision, fields, field_revs, field_hlcs, field_by, deleted, "
    "created_by, updated_by, created_at, updated_at"
)
FEED_COLUMNS = "id, collection, warehouse_id, revision, fields, deleted, created_by, updated_by, updated_at"
"""What a Change carries: the pull feed needs none of the per-field merge bookkeeping."""

_SELECT_RECORDS = f"SELECT {RECORD_COLUMNS} FROM records WHERE id IN (SELECT value FROM json_each(?))"
_SELECT_OUTCOMES = (
    "SELECT seq, result FROM outcomes WHERE client_id = ? AND seq IN (SELECT value FROM json_each(?))"
)
_SELECT_LAST_SEQ = "SELECT last_seq FROM client_state WHERE client_id = ?"
_SELECT_STATES = (
    f"SELECT {STATE_COLUMNS} FROM warehouse_state WHERE warehouse_id IN (SELECT value FROM json_each(?))"
)
_SELECT_DIGESTS = (
    "SELECT warehouse_id, count, checksum FROM digests WHERE warehouse_id IN (SELECT value FROM json_each(?))"
)
_SELECT_PRESENT = "SELECT sha256 FROM attachments WHERE sha256 IN (SELECT value FROM json_each(?))"
UPSERT_SUMMARY = (
    "INSERT INTO warehouse_summary (warehouse_id, revision, items_key, summary) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (warehouse_id) DO UPDATE SET revision = excluded.revision,"
    " items_key = excluded.items_key, summary = excluded.summary"
    " WHERE excluded.revision >= warehouse_summary.revision"
)
"""A warehouse's summary as the overview refolded it (server/summaries.py; SqliteStorage.keep_summaries);
never replaced by one folded at an older revision."""
_FOLLOW_SUMMARY = "UPDATE warehouse_summary SET revision = ? WHERE warehouse_id = ? AND revision = ?"
"""A push that wrote none of a warehouse's overview records: its summary still holds, one revision on."""
_APPLY_SUMMARY = (
    "UPDATE warehouse_summary SET revision = ?, summary = ? WHERE warehouse_id = ? AND revision = ?"
)
"""A push's changes applied to a warehouse's summary that held (summaries.after_push)."""
_SELECT_SUMMARIES = (
    "SELECT warehouse_id, revision, summary FROM warehouse_summary"
    " WHERE warehouse_id IN (SELECT value FROM json_each(?))"
)

_UPSERT_RECORD = f"""
INSERT INTO records ({RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (warehouse_id, id) DO UPDATE SET
    collection = excluded.collection,
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

INSERT_AUDIT = f"INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

UPSERT_STATE = (
    f"INSERT INTO warehouse_state ({STATE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (warehouse_id) DO UPDATE SET revision = max(revision, excluded.revision),"
    " audit_id = excluded.audit_id, audit_hash = excluded.audit_hash, audit_at = excluded.audit_at"
)
"""A warehouse's counter and chain head after a commit (rows.state_rows)."""

_RECOUNT_MISSING = ds.sqlite(ds.recount_clients("client_id IN (SELECT value FROM json_each(?1))"))


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


async def fetch_present(conn: aiosqlite.Connection, hashes: Sequence[str]) -> set[str]:
    rows = await conn.execute_fetchall(_SELECT_PRESENT, (json_list(hashes),))
    return {row[0] for row in rows}


class _BeginsWithFirstRead:
    """A transaction on an aiosqlite connection whose BEGIN travels with its first round trip."""

    _conn: aiosqlite.Connection
    begun = False

    def _begin(self, db: sqlite3.Connection) -> None:
        raise NotImplementedError

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(db, *args)` on the connection's thread, beginning the transaction first if needed."""
        if self.begun:
            return await run_on_connection(self._conn, fn, *args)

        def begin_then(db: sqlite3.Connection, *args: Any) -> T:
            self._begin(db)
            self.begun = True
            return fn(db, *args)

        return await run_on_connection(self._conn, begin_then, *args)


class SqliteWriteTx(_BeginsWithFirstRead):
    """The write transaction of one push, on the writer connection; SqliteStorage.write() holds the
    writer lock around it, and so every warehouse: the same per-warehouse counters, horizons and
    chain heads (warehouse_state) as PostgreSQL, with one writer instead of row locks.

    Each call is one round trip to the connection's thread, and under load each round trip waits
    for the event loop to come round again while the writer lock is held: in a reconnect storm
    that wait, not SQLite, is what the phones queue behind. So a push makes two: the first read
    begins the transaction (BEGIN IMMEDIATE travels with it) and, through prefetch(), brings
    everything the push will ask next; commit() only builds the rows, which SqliteStorage.write()
    writes together with the COMMIT."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self.statements: list[tuple[str, list[tuple[Any, ...]]]] | None = None
        """What commit() decided to write; SqliteStorage.write() runs it with the COMMIT."""
        self.heads_after: dict[str, Head] = {}
        """The heads of the chains `statements` append to, once written."""
        self.warehouses_written: frozenset[str] = frozenset()
        """The warehouses whose records `statements` change (who is woken after the COMMIT)."""
        self.held: dict[str, Held] = {}
        """warehouse_state of each warehouse read in this transaction (only our commit moves it)."""
        self._last_seq: dict[str, int] = {}
        self._records: dict[str, Sequence[Any] | None] = {}
        """Prefetched record rows by id (None: known not to exist); each is handed out once."""
        self._digests: dict[str, Digest] = {}
        self._present: dict[str, bool] = {}
        self._before: dict[str, Record | None] = {}
        """Each record this push read, as it was before the push (None: it did not exist)."""
        self._summaries: dict[str, tuple[int, str]] = {}
        """The stored summary (revision, summary) of each warehouse read in this transaction."""
        self._summaries_read: set[str] = set()
        """The warehouses whose summary was read (whether or not they have one)."""
        self.group_committed = False
        """Whether the round trip that wrote `statements` committed the group too."""
        self.mutations = 0
        """How many outcomes `statements` store (the group's size is counted in mutations)."""

    @property
    def committed(self) -> bool:
        return self.statements is not None

    def _begin(self, db: sqlite3.Connection) -> None:
        # The group's transaction may be open already (SqliteStorage.write(): group commit).
        if not db.in_transaction:
            db.execute("BEGIN IMMEDIATE")
        db.execute(f"SAVEPOINT {BATCH_SAVEPOINT}")

    async def prefetch(
        self, client_id: str, ids: Sequence[str], warehouse_ids: Sequence[str], hashes: Sequence[str]
    ) -> None:
        """One round trip for what a push reads: the client's last number, the records, the state
        and digests of their warehouses and of `warehouse_ids`, and the stored photos."""
        last_seq, rows, held, digests, present, stored = await self._run(
            _prefetch, client_id, list(ids), list(warehouse_ids), list(hashes)
        )
        self._last_seq[client_id] = last_seq
        self.held.update(held)
        self._summaries.update(stored)
        self._summaries_read.update(held)
        self._records.update(dict.fromkeys(ids))
        self._records.update((row[0], row) for row in rows)
        self._digests.update(digests)
        self._present.update((h, h in present) for h in hashes)

    async def client_last_seq(self, client_id: str) -> int:
        if client_id not in self._last_seq:
            self._last_seq[client_id] = await self._run(_last_seq, client_id)
        return self._last_seq[client_id]

    async def outcomes(self, client_id: str, seqs: Sequence[int]) -> dict[int, MutationResult]:
        if not seqs:
            return {}
        rows = await self._run(_fetchall, _SELECT_OUTCOMES, (client_id, json_list(seqs)))
        return {row[0]: _result(row[1]) for row in rows}

    async def records(self, ids: Sequence[str]) -> dict[str, Record]:
        rows, missing = take_prefetched(self._records, ids)
        if missing:
            rows += await self._run(_fetchall, _SELECT_RECORDS, (json_list(missing),))
        found = {row[0]: record_from_row(row) for row in rows}
        for record_id in ids:
            self._before.setdefault(record_id, found.get(record_id))
        return found

    async def _hold(self, warehouse_ids: Iterable[str]) -> None:
        missing = sorted(set(warehouse_ids) - self.held.keys())
        if missing:
            self.held.update(await self._run(_states, missing))

    async def revisions(self, warehouse_ids: Sequence[str]) -> dict[str, int]:
        await self._hold(warehouse_ids)
        return {w: self.held[w].revision for w in warehouse_ids}

    async def digests(self, warehouse_ids: Sequence[str]) -> dict[str, Digest]:
        missing = [w for w in warehouse_ids if w not in self._digests]
        if missing:
            self._digests.update(await self._run(_digests, missing))
        return {w: self._digests[w] for w in warehouse_ids}

    async def attachments_present(self, hashes: Sequence[str]) -> set[str]:
        missing = [h for h in hashes if h not in self._present]
        if missing:
            found = await self._run(_present, missing)
            self._present.update((h, h in found) for h in missing)
        return {h for h in hashes if self._present[h]}

    async def template(self, template_id: str) -> Template | None:
        rows = await self._run(_fetchall, "SELECT body FROM templates WHERE id = ?", (template_id,))
        return _template(rows[0][0]) if rows else None

    async def members(self, warehouse_id: str) -> dict[str, Member]:
        rows = await self._run(_fetchall, _SELECT_MEMBERS, (warehouse_id,))
        return {row[0]: Member(user_id=row[0], role=row[1], agency=row[2]) for row in rows}

    async def report_counter(self, warehouse_id: str, year: int) -> ReportCounter:
        # The write transaction (BEGIN IMMEDIATE) has the database to itself, and the pushes of a
        # group commit run in it one after another: an earlier batch's number is already written
        # (its savepoint released), or rolled back with that batch.
        rows = await self._run(_fetchall, _SELECT_REPORT_COUNTER, (year, warehouse_id))
        code, last = rows[0] if rows else (warehouse_id, 0)
        return ReportCounter(warehouse_code=code, last=int(last))

    async def commit(self, effects: BatchEffects) -> None:
        if self.committed:
            raise RuntimeError("commit() was already called in this transaction")
        # A batch written without reading first (tools, tests) begins here and reads the state.
        await self._hold([*effects.revisions, *(chain_of(e) for e in effects.audit)])
        statements, self.heads_after = commit_statements(effects, self.held)
        statements += await self._summary_statements(effects)
        self.statements = statements
        self.warehouses_written = frozenset(r.warehouse_id for r in effects.records)
        self.mutations = len(effects.outcomes)

    async def _summary_statements(self, effects: BatchEffects) -> list[tuple[str, list[tuple[Any, ...]]]]:
        """Keep the summaries of the warehouses this push writes true (server/summaries.py): each
        that held moves on with the push, its changes applied, in O(records written)."""
        unread = summaries.unread(effects.records, self._before)
        unheld = sorted(effects.revisions.keys() - self._summaries_read)
        if unread or unheld:  # a conflict the push filed, a warehouse held late, a tool's write
            rows, stored = await self._run(_summary_inputs, unread, unheld)
            found = {row[0]: record_from_row(row) for row in rows}
            self._before.update((record_id, found.get(record_id)) for record_id in unread)
            self._summaries.update(stored)
            self._summaries_read.update(unheld)
        held = {w: state.revision for w, state in self.held.items()}
        pushed = summaries.after_push(effects.records, self._before, effects.revisions, held, self._summaries)
        statements: list[tuple[str, list[tuple[Any, ...]]]] = []
        if pushed.kept:
            statements.append((_APPLY_SUMMARY, list(pushed.kept)))
        if pushed.moved:
            statements.append((_FOLLOW_SUMMARY, list(pushed.moved)))
        return statements


_SELECT_REPORT_COUNTER = (
    "SELECT w.code, COALESCE((SELECT c.last FROM report_counters c"
    " WHERE c.warehouse_id = w.id AND c.year = ?), 0) FROM warehouses w WHERE w.id = ?"
)

_SELECT_MEMBERS = (
    "SELECT u.id, u.role, u.agency FROM assignments a JOIN users u ON u.id = a.user_id"
    " WHERE a.warehouse_id = ? AND u.disabled = 0"
)


def _fetchall(db: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    return db.execute(sql, params).fetchall()


def _last_seq(db: sqlite3.Connection, client_id: str) -> int:
    row = db.execute(_SELECT_LAST_SEQ, (client_id,)).fetchone()
    return int(row[0]) if row else 0


def _states(db: sqlite3.Connection, warehouse_ids: Sequence[str]) -> dict[str, Held]:
    """warehouse_state of each warehouse (a warehouse never written: zeros, the chain's genesis)."""
    found = dict(held_from_row(row) for row in db.execute(_SELECT_STATES, (json_list(warehouse_ids),)))
    return {w: found.get(w, Held()) for w in warehouse_ids}


def _digests(db: sqlite3.Connection, warehouse_ids: Sequence[str]) -> dict[str, Digest]:
    rows = db.execute(_SELECT_DIGESTS, (json_list(warehouse_ids),)).fetchall()
    found = {row[0]: Digest(count=row[1], checksum=row[2]) for row in rows}
    return {wid: found.get(wid, digest_mod.EMPTY) for wid in warehouse_ids}


def _present(db: sqlite3.Connection, hashes: Sequence[str]) -> set[str]:
    rows = db.execute(_SELECT_PRESENT, (json_list(hashes),)).fetchall()
    return {row[0] for row in rows}


def _stored_summaries(db: sqlite3.Connection, warehouse_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
    rows = db.execute(_SELECT_SUMMARIES, (json_list(warehouse_ids),)).fetchall()
    return {row[0]: (int(row[1]), row[2]) for row in rows}


def _summary_inputs(
    db: sqlite3.Connection, record_ids: list[str], warehouse_ids: list[str]
) -> tuple[list[Any], dict[str, tuple[int, str]]]:
    """The records and stored summaries a push's summaries need that it did not read already."""
    rows = _fetchall(db, _SELECT_RECORDS, (json_list(record_ids),)) if record_ids else []
    return rows, _stored_summaries(db, warehouse_ids) if warehouse_ids else {}


def _prefetch(
    db: sqlite3.Connection, client_id: str, ids: list[str], warehouse_ids: list[str], hashes: list[str]
) -> tuple[int, list[Any], dict[str, Held], dict[str, Digest], set[str], dict[str, tuple[int, str]]]:
    last_seq = _last_seq(db, client_id)
    rows = _fetchall(db, _SELECT_RECORDS, (json_list(ids),))
    warehouses = sorted(set(warehouse_ids) | {row[2] for row in rows})
    # The system chain's state too: a refused mutation about no warehouse is audited there, and the
    # one writer holds it anyway (PostgreSQL locks it only when it is needed).
    return (last_seq, rows, _states(db, [*warehouses, SYSTEM_CHAIN]), _digests(db, warehouses),
            _present(db, hashes) if hashes else set(), _stored_summaries(db, warehouses))  # fmt: skip


BATCH_SAVEPOINT = "push_batch"
"""The savepoint each push's batch runs in, inside its group's transaction."""


def execute_and_release(db: sqlite3.Connection, statements: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
    """A committed batch's writes and the release of its savepoint, in one round trip: the batch
    is then part of its group's transaction (SqliteStorage.write())."""
    _execute_all(db, statements)
    db.execute(f"RELEASE {BATCH_SAVEPOINT}")


def execute_and_commit(
    db: sqlite3.Connection, statements: list[tuple[str, list[tuple[Any, ...]]]]
) -> sqlite3.Error | None:
    """execute_and_release() and the COMMIT of the group, in one round trip. An error of the batch's
    writes is raised (the batch failed); an error of the COMMIT is returned (the group failed)."""
    execute_and_release(db, statements)
    return commit(db)


def commit(db: sqlite3.Connection) -> sqlite3.Error | None:
    try:
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        return exc
    return None


def undo_batch(db: sqlite3.Connection) -> None:
    """Roll a push back to its savepoint and end the savepoint. Nothing to do if it was released
    already (cancelled while execute_and_release ran: the batch then commits with its group) or
    if SQLite rolled the whole transaction back by itself."""
    if not db.in_transaction:
        return
    try:
        db.execute(f"ROLLBACK TO {BATCH_SAVEPOINT}")
    except sqlite3.OperationalError as exc:
        if "no such savepoint" in str(exc):
            return
        raise
    db.execute(f"RELEASE {BATCH_SAVEPOINT}")


def _execute_all(db: sqlite3.Connection, statements: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
    for sql, rows in statements:
        db.executemany(sql, rows)


def commit_statements(
    effects: BatchEffects, held: dict[str, Held]
) -> tuple[list[tuple[str, list[tuple[Any, ...]]]], dict[str, Head]]:
    """Every statement of a batch commit with its rows, and the heads of the chains it appends to.
    Built entirely before touching the database, so the writes then run in one go on the
    connection's thread. `held`: the state of every warehouse and chain the batch writes."""
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
    if effects.attachment_refs:
        statements.append(
            (
                "INSERT OR IGNORE INTO attachment_refs (sha256, record_id, client_id, user_id, warehouse_id)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (r.sha256, r.record_id, r.client_id, effects.user_id, r.warehouse_id)
                    for r in effects.attachment_refs
                ],
            )
        )
        # The photos each referring client still owes, recounted after its new references.
        clients = sorted({r.client_id for r in effects.attachment_refs})
        statements.append((_RECOUNT_MISSING, [(json_list(clients),)]))
    if effects.report_numbers:
        statements.append(
            (
                "INSERT INTO report_counters (warehouse_id, year, last) VALUES (?, ?, ?)"
                " ON CONFLICT (warehouse_id, year) DO UPDATE SET last = excluded.last",
                [(c.warehouse_id, c.year, c.last) for c in effects.report_numbers],
            )
        )
    heads: dict[str, Head] = {}
    if effects.audit:
        rows, heads = audit_rows(effects.audit, {chain: state.head for chain, state in held.items()})
        statements.append((INSERT_AUDIT, rows))
    statements += outbox_statements(effects.alerts)  # alert events commit with their cause
    states = state_rows(effects.revisions, heads, held)
    if states:
        statements.append((UPSERT_STATE, states))
    return statements, heads


class SqliteReadTx(_BeginsWithFirstRead):
    """A consistent WAL snapshot on a reader connection (the snapshot starts at the first read).

    As with SqliteWriteTx, round trips are what a pull under load waits on: BEGIN travels with the
    first read, and prefetch_pull() brings everything but the changes in one go, so a pull of one
    warehouse makes two round trips (and the ROLLBACK that hands the connection back)."""

    def __init__(self, conn: aiosqlite.Connection, cache: FeedCache | None = None) -> None:
        self._conn = conn
        self._cache = cache
        self._held: dict[str, Held] = {}
        """warehouse_state in this snapshot, once read: each warehouse's horizon, and its newest
        revision (whether a feed read can use the cache)."""
        self._digests: dict[str, Digest] = {}
        self._outcomes: dict[tuple[str, int, int], list[tuple[int, str | None, int | None]]] = {}
        self._missing: dict[str, list[str]] = {}

    def _begin(self, db: sqlite3.Connection) -> None:
        db.execute("BEGIN")

    async def prefetch_pull(
        self, warehouse_ids: Sequence[str], client_id: str, after_seq: int, limit: int
    ) -> None:
        held, digests, outcomes, missing = await self._run(
            _prefetch_pull, list(warehouse_ids), client_id, after_seq, limit
        )
        self._held.update(held)
        self._digests.update(digests)
        self._outcomes[(client_id, after_seq, limit)] = outcomes
        self._missing[client_id] = missing

    async def changes(self, warehouse_id: str, after: int, limit: int) -> list[Record]:
        rows = await self._run(_fetchall, _SELECT_CHANGES, (warehouse_id, after, limit))
        return [record_from_row(row) for row in rows]

    async def change_feed(self, warehouse_id: str, after: int, limit: int) -> list[Change]:
        """The pull feed: what `changes()` returns, as Changes, with `fields` passed through as the
        stored JSON text (msgspec.Raw). The answer splices that text, so a page of thousands of
        records is neither decoded nor re-encoded, and the merge bookkeeping is never read."""
        cache = self._cache
        held = self._held.get(warehouse_id)
        if cache is None or held is None or not cache.covers(after, held.revision):
            rows = await self._run(_fetchall, _SELECT_FEED, (warehouse_id, after, limit))
            return [change_from_feed_row(row) for row in rows]
        revisions, hits, rows = await self._run(_feed_through_cache, cache, warehouse_id, after, limit)
        read = [change_from_feed_row(row) for row in rows]
        cache.put(read)
        hits.update((change.revision, change) for change in read)
        return [hits[revision] for revision in revisions]

    async def digests(self, warehouse_ids: Sequence[str]) -> dict[str, Digest]:
        missing = [w for w in warehouse_ids if w not in self._digests]
        if missing:
            self._digests.update(await self._run(_digests, missing))
        return {w: self._digests[w] for w in warehouse_ids}

    async def tombstone_horizons(self, warehouse_ids: Sequence[str]) -> dict[str, int]:
        missing = [w for w in warehouse_ids if w not in self._held]
        if missing:
            self._held.update(await self._run(_states, missing))
        return {w: self._held[w].horizon for w in warehouse_ids}

    async def outcome_revisions(
        self, client_id: str, after_seq: int, limit: int
    ) -> list[tuple[int, str | None, int | None]]:
        key = (client_id, after_seq, limit)
        if key not in self._outcomes:
            self._outcomes[key] = await self._run(_outcome_revisions, client_id, after_seq, limit)
        return self._outcomes[key]

    async def missing_attachments(self, client_id: str) -> list[str]:
        if client_id not in self._missing:
            self._missing[client_id] = await self._run(_missing_attachments, client_id)
        return self._missing[client_id]


_SELECT_CHANGES = (
    f"SELECT {RECORD_COLUMNS} FROM records WHERE warehouse_id = ? AND revision > ? ORDER BY revision LIMIT ?"
)
_SELECT_FEED = (
    f"SELECT {FEED_COLUMNS} FROM records WHERE warehouse_id = ? AND revision > ? ORDER BY revision LIMIT ?"
)
_SELECT_FEED_REVISIONS = (
    "SELECT revision FROM records WHERE warehouse_id = ? AND revision > ? ORDER BY revision LIMIT ?"
)
_SELECT_FEED_RANGE = (
    f"SELECT {FEED_COLUMNS} FROM records WHERE warehouse_id = ? AND revision > ? AND revision <= ?"
    " ORDER BY revision"
)
_SELECT_FEED_AT = (
    f"SELECT {FEED_COLUMNS} FROM records"
    " WHERE warehouse_id = ? AND revision IN (SELECT value FROM json_each(?))"
)


def _feed_through_cache(
    db: sqlite3.Connection, cache: FeedCache, warehouse_id: str, after: int, limit: int
) -> tuple[list[int], dict[int, Change], list[Any]]:
    """The page's revisions (from the index alone), the changes the cache holds for them, and the
    rows of the others: one range read when most are missing, else a lookup of each."""
    revisions = [row[0] for row in db.execute(_SELECT_FEED_REVISIONS, (warehouse_id, after, limit))]
    hits = {r: change for r in revisions if (change := cache.get(warehouse_id, r)) is not None}
    if len(hits) == len(revisions):
        return revisions, hits, []
    if 2 * len(hits) < len(revisions):
        rows = db.execute(_SELECT_FEED_RANGE, (warehouse_id, after, revisions[-1])).fetchall()
        return revisions, hits, [row for row in rows if row[3] not in hits]
    missing = [r for r in revisions if r not in hits]
    return revisions, hits, db.execute(_SELECT_FEED_AT, (warehouse_id, json_list(missing))).fetchall()


def _outcome_revisions(
    db: sqlite3.Connection, client_id: str, after_seq: int, limit: int
) -> list[tuple[int, str | None, int | None]]:
    rows = db.execute(
        "SELECT seq, warehouse_id, revision FROM outcomes WHERE client_id = ? AND seq > ?"
        " ORDER BY seq LIMIT ?",
        (client_id, after_seq, limit),
    ).fetchall()
    return [(row[0], row[1], row[2]) for row in rows]


def _missing_attachments(db: sqlite3.Connection, client_id: str) -> list[str]:
    rows = db.execute(
        "SELECT DISTINCT r.sha256 FROM attachment_refs AS r"
        " LEFT JOIN attachments AS a ON a.sha256 = r.sha256"
        " WHERE r.client_id = ? AND a.sha256 IS NULL ORDER BY r.sha256",
        (client_id,),
    ).fetchall()
    return [row[0] for row in rows]


def _prefetch_pull(
    db: sqlite3.Connection, warehouse_ids: list[str], client_id: str, after_seq: int, limit: int
) -> tuple[dict[str, Held], dict[str, Digest], list[tuple[int, str | None, int | None]], list[str]]:
    return (
        _states(db, warehouse_ids) if warehouse_ids else {},
        _digests(db, warehouse_ids) if warehouse_ids else {},
        _outcome_revisions(db, client_id, after_seq, limit),
        _missing_attachments(db, client_id),
    )
