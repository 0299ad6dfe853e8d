"""The embedded SQLite backend.

Connections: one writer, guarded by an asyncio lock so concurrent requests queue up in the
process instead of meeting "database is locked", and a few reader connections whose BEGIN gives a
WAL snapshot for a pull. Every connection runs with WAL, foreign_keys=ON and a busy_timeout (for
other processes such as the CLI).

Failures of the medium (disk full, read-only file, I/O error, cannot open, lock held too long by
another process) surface as `StorageUnavailable` after the transaction rolled back, so the HTTP
layer answers 503 and the client retries; nothing acknowledged before is touched.

Group commit: pushes that queue for the writer together are applied one after another in one
write transaction, each in a savepoint, and committed with one fsync (_PushGroup says how).

The audit chain's head is read inside each write transaction (not cached), so entries appended by
another process on the same file (the CLI while the server runs) never fork the chain.

WAL checkpoints (copying committed pages from the -wal file back into the database file) run on a
connection of their own, shortly after writes, instead of inside whichever commit crosses SQLite's
1,000-page threshold: a 1,000-mutation push otherwise paid for a whole checkpoint in its COMMIT,
about a third of its write time. The writer still checkpoints by itself if the background one falls
WAL_SAFETY_PAGES behind, so the -wal file cannot grow without bound.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite
import msgspec

from server.models import now_iso
from server.storage import device_sync as ds
from server.storage.base import (
    AttachmentMeta,
    AuditRow,
    Conflict,
    PurgeAudit,
    StorageError,
    StorageUnavailable,
)
from server.storage.feed_cache import FeedCache, capacity_from_env
from server.storage.rows import (
    ATTACHMENT_COLUMNS,
    AUDIT_ROW_COLUMNS,
    STATE_COLUMNS,
    Held,
    attachment_from_row,
    attachment_row,
    audit_row_from_row,
    audit_rows,
    decode_heads,
    encode_heads,
    held_from_row,
    state_rows,
)
from server.storage.sqlite import migrations
from server.storage.sqlite.accounts import AccountsMixin
from server.storage.sqlite.alerts import SqliteAlertsMixin
from server.storage.sqlite.reports import SupervisorQueriesMixin
from server.storage.sqlite.sync_tx import (
    INSERT_AUDIT,
    UPSERT_STATE,
    SqliteReadTx,
    SqliteWriteTx,
    commit,
    execute_and_commit,
    execute_and_release,
    fetch_present,
    json_list,
    run_on_connection,
    undo_batch,
)
from sync import digest as digest_mod
from sync.audit import SYSTEM_CHAIN, chain_of
from sync.store import AuditEntry, TransactionLost

_RECOUNT_ARRIVED = ds.sqlite(ds.RECOUNT_ARRIVED)

_detail = msgspec.json.Decoder(dict[str, object]).decode
log = logging.getLogger("tigapilar.storage")

UNAVAILABLE_ERRORS = ("SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_BUSY")
"""Primary result codes (extended ones such as SQLITE_IOERR_WRITE included) that mean the medium
cannot take the operation now, as opposed to a bug (constraint, syntax...)."""

CHECKPOINT_DELAY_S = 0.05
"""How long after a commit the background checkpoint starts: writes arriving meanwhile share it."""
WAL_SAFETY_PAGES = 16_384
"""wal_autocheckpoint of the writer (64 MiB of 4 KiB pages): only reached if background checkpoints
cannot keep up (a reader holding an old snapshot for long, say)."""
WRITER_CACHE_KIB = 64 * 1024
"""Page cache of the writer connection. Only the writer changes the file, so its cache stays valid
between transactions: a push patching records finds their pages in memory instead of reading
them again (SQLite's default is 2 MiB, a few thousand records)."""
WAL_KEEP_BYTES = 64 * 1024 * 1024
"""journal_size_limit: after a checkpoint lets SQLite start the -wal file over, it is truncated to
at most this much."""


def unavailable(exc: sqlite3.Error) -> StorageUnavailable | None:
    """The StorageUnavailable a sqlite3 error stands for, or None when it is another kind of error."""
    name = getattr(exc, "sqlite_errorname", None) or ""
    if any(name == code or name.startswith(code + "_") for code in UNAVAILABLE_ERRORS):
        return StorageUnavailable(f"database unavailable ({name}): {exc}")
    return None


GROUP_MAX_MUTATIONS = 4_000
"""A group of pushes is committed once it holds this many mutations, even with more waiting: the
answers of its first pushes wait for its COMMIT."""


def group_limit_from_env(env: Mapping[str, str] | None = None) -> int:
    """$TIGAPILAR_GROUP_COMMIT_MUTATIONS (0: each push commits alone), else GROUP_MAX_MUTATIONS."""
    value = (os.environ if env is None else env).get("TIGAPILAR_GROUP_COMMIT_MUTATIONS", "").strip()
    return int(value) if value.isdigit() else GROUP_MAX_MUTATIONS


GROUP_MAX_WAIT_MS = 50
"""A group is committed once its first push has waited this long for the COMMIT since its batch
was applied, even with more waiting (see _PushGroup: longer groups answer in bursts)."""


def group_wait_from_env(env: Mapping[str, str] | None = None) -> float:
    """$TIGAPILAR_GROUP_COMMIT_WAIT_MS in seconds, else GROUP_MAX_WAIT_MS."""
    value = (os.environ if env is None else env).get("TIGAPILAR_GROUP_COMMIT_WAIT_MS", "").strip()
    return (int(value) if value.isdigit() else GROUP_MAX_WAIT_MS) / 1000


class _PushGroup:
    """Pushes that arrived together, applied one after another in one write transaction (each in a
    savepoint of its own, so each stays all-or-nothing) and committed with one fsync.

    A push applies its batch and releases its savepoint; if other writers are waiting for the lock
    it leaves the transaction open for them and waits for `committed`, otherwise it commits the
    group. It also commits once the group holds group_limit mutations or its first push has waited
    group_wait seconds since its batch was applied: answers held for a whole queue of pushes went
    out in bursts, and the phones' pulls after them queued for the reader connections.

    A push that raises is rolled back to its savepoint and answered at once (its error); the others
    are untouched. Every answer leaves only after the COMMIT that made it durable."""

    def __init__(self) -> None:
        self.committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.members = 0
        self.mutations = 0
        self.warehouses: set[str] = set()
        self.flush_queued = False
        self.first_applied = 0.0
        """When its first push's batch was applied (the event loop's clock)."""


class SqliteStorage(AccountsMixin, SupervisorQueriesMixin, SqliteAlertsMixin):
    def __init__(
        self,
        path: str | Path,
        *,
        data_dir: str | Path | None = None,
        readers: int = 8,  # a storm's pulls queued for 4 (pull p95 ~1 s); 8 halve that
        busy_timeout_ms: int = 10_000,
    ) -> None:
        if str(path) in ("", ":memory:") or str(path).startswith("file:"):
            raise StorageError(
                "SQLite storage needs a database file path (in-memory databases are not supported)"
            )
        self.path = Path(path)
        self.data_dir = Path(data_dir) if data_dir is not None else self.path.parent
        self._reader_count = max(1, readers)
        self._busy_timeout_ms = busy_timeout_ms
        self._writer: aiosqlite.Connection | None = None
        self._readers: asyncio.Queue[aiosqlite.Connection] | None = None
        self._all_readers: list[aiosqlite.Connection] = []
        self._lock = asyncio.Lock()
        self._writers_waiting = 0
        self.group_limit = group_limit_from_env()
        """Mutations a push group may hold before it is committed (GROUP_MAX_MUTATIONS)."""
        self.group_wait = group_wait_from_env()
        """Seconds a group's first push may wait for its COMMIT before it is committed (GROUP_MAX_WAIT_MS)."""
        self._group: _PushGroup | None = None
        """The pushes applied in the writer's open transaction, not yet committed (group commit)."""
        self._change_listeners: list[Callable[[frozenset[str] | None], None]] = []
        """Called after each sync commit with the warehouses it wrote (listen_changes)."""
        self.feed_cache = FeedCache(capacity_from_env())
        """Recent pull-feed changes by revision, shared by the readers (server/storage/feed_cache.py)."""
        self._checkpointer: aiosqlite.Connection | None = None
        self._checkpoint_due = asyncio.Event()
        self._checkpoint_task: asyncio.Task[None] | None = None
        self.checkpoints = 0
        """Background checkpoints run so far (tests and the benchmarks read it)."""
        self.group_commits = 0
        """COMMITs of push groups so far, each one fsync for all its pushes (tests, benchmarks)."""

    def __repr__(self) -> str:
        return f"SqliteStorage({str(self.path)!r})"

    # -- lifecycle ---------------------------------------------------------------------------------
    async def _connect(self, *, reader: bool) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            await conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            await conn.execute("PRAGMA foreign_keys = ON")
            await conn.execute("PRAGMA synchronous = FULL")
            await conn.execute("PRAGMA temp_store = MEMORY")
            if reader:
                await conn.execute("PRAGMA query_only = ON")
            else:
                await conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_SAFETY_PAGES}")
                await conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
                await conn.execute(f"PRAGMA journal_size_limit = {WAL_KEEP_BYTES}")
        except BaseException:
            await conn.close()
            raise
        return conn

    async def open(self, *, create: bool = True) -> None:
        if self._writer is not None:
            return
        if not self.path.exists():
            if not create:
                raise StorageError(f"database not found: {self.path} (create it with `tigapilar migrate`)")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._writer = await self._connect(reader=False)
            rows = list(await self._writer.execute_fetchall("PRAGMA journal_mode = WAL"))
            if rows[0][0].lower() != "wal":
                raise StorageError(f"cannot switch {self.path} to WAL mode")
            await self.migrate()
            self._readers = asyncio.Queue()
            for _ in range(self._reader_count):
                conn = await self._connect(reader=True)
                self._all_readers.append(conn)
                self._readers.put_nowait(conn)
            self._checkpointer = await self._connect(reader=False)
            self._checkpoint_due = asyncio.Event()  # bound to this event loop
            self._checkpoint_task = asyncio.create_task(self._checkpoint_loop(self._checkpointer))
        except sqlite3.DatabaseError as exc:
            await self.close()
            raise StorageError(f"cannot open {self.path}: {exc}") from exc
        except BaseException:
            await self.close()
            raise
        (self.data_dir / "attachments").mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        if self._group is not None and self._writer is not None:
            async with self._writer_turn():
                await self._end_group()
        task, self._checkpoint_task = self._checkpoint_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            await checkpointer.close()
        readers, self._all_readers, self._readers = self._all_readers, [], None
        for conn in readers:
            await conn.close()
        writer, self._writer = self._writer, None
        if writer is not None:
            await writer.close()

    async def _checkpoint_loop(self, conn: aiosqlite.Connection) -> None:
        """Checkpoint (PASSIVE: never waits for readers or the writer) shortly after writes."""
        while True:
            await self._checkpoint_due.wait()
            await asyncio.sleep(CHECKPOINT_DELAY_S)
            self._checkpoint_due.clear()
            try:
                await conn.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")
                self.checkpoints += 1
            except sqlite3.Error as exc:  # the writer's own safety checkpoint still runs
                log.warning("background WAL checkpoint failed: %s", exc)

    def _written(self) -> None:
        self._checkpoint_due.set()

    @property
    def _w(self) -> aiosqlite.Connection:
        if self._writer is None:
            raise StorageError("storage is not open")
        return self._writer

    async def migrate(self) -> list[int]:
        applied: list[int] = []
        async with self._lock:
            conn = self._w
            await conn.execute(migrations.SCHEMA_VERSION_TABLE)
            for migration in migrations.load():
                await conn.execute("BEGIN IMMEDIATE")
                try:
                    rows = list(
                        await conn.execute_fetchall(
                            "SELECT 1 FROM schema_version WHERE version = ?", (migration.version,)
                        )
                    )
                    if rows:
                        await conn.execute("ROLLBACK")
                        continue
                    for statement in migration.statements:
                        await conn.execute(statement)
                    await conn.execute(
                        "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                        (migration.version, migration.name, now_iso()),
                    )
                    await conn.execute("COMMIT")
                except BaseException as exc:
                    if conn.in_transaction:
                        await conn.execute("ROLLBACK")
                    if isinstance(exc, sqlite3.Error):
                        raise StorageError(f"migration {migration.name} failed: {exc}") from exc
                    raise
                applied.append(migration.version)
        return applied

    async def schema_version(self) -> int:
        async with self._reading() as conn:
            rows = list(await conn.execute_fetchall("SELECT max(version) FROM schema_version"))
        return int(rows[0][0] or 0)

    async def database_mark(self, name: str) -> str | None:
        async with self._reading() as conn:
            rows = list(
                await conn.execute_fetchall("SELECT value FROM database_marks WHERE name = ?", (name,))
            )
        return str(rows[0][0]) if rows else None

    async def set_database_mark(self, name: str, value: str) -> None:
        async with self._writing() as conn:
            await conn.execute(
                "INSERT OR IGNORE INTO database_marks (name, value, set_at) VALUES (?, ?, ?)",
                (name, value, now_iso()),
            )

    async def backup(self, target: str | Path) -> None:
        """Copy the database with SQLite's online backup API: a consistent copy, safe while the
        server is writing."""
        await asyncio.to_thread(backup_file, self.path, Path(target))

    # -- transactions ------------------------------------------------------------------------------
    async def _rollback(self, conn: aiosqlite.Connection) -> None:
        """End a failed transaction. SQLite rolls back by itself on some errors (SQLITE_FULL); if the
        ROLLBACK itself fails the connection is replaced, so one bad moment cannot wedge the writer
        inside a transaction for good."""
        if not conn.in_transaction:
            return
        try:
            await conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            log.error("ROLLBACK failed (%s); reconnecting", exc)
            if conn is self._writer:
                self._writer = None
                try:
                    await conn.close()
                finally:
                    self._writer = await self._connect(reader=False)

    @asynccontextmanager
    async def _writer_turn(self) -> AsyncIterator[aiosqlite.Connection]:
        """The writer lock, counted while waited for (a push leaves its group's transaction open
        only while another writer is waiting), then the writer connection."""
        self._writers_waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self._writers_waiting -= 1
        try:
            yield self._w
        finally:
            self._lock.release()

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[aiosqlite.Connection]:
        """The writer connection inside BEGIN IMMEDIATE ... COMMIT, under the writer lock (after
        committing the pushes of an open group: this transaction is not one of them)."""
        async with self._writer_turn() as conn:
            try:
                await self._end_group()
                await conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    await conn.execute("COMMIT")
                    self._written()
                finally:
                    await self._rollback(conn)
            except sqlite3.Error as exc:
                if (mapped := unavailable(exc)) is None:
                    raise
                raise mapped from exc

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[aiosqlite.Connection]:
        """Borrow a reader connection (autocommit: each statement sees the latest commit)."""
        if self._readers is None:
            raise StorageError("storage is not open")
        queue = self._readers
        conn = await queue.get()
        try:
            yield conn
        except sqlite3.Error as exc:
            if (mapped := unavailable(exc)) is None:
                raise
            raise mapped from exc
        finally:
            if conn.in_transaction:
                try:
                    await conn.execute("ROLLBACK")
                except sqlite3.Error as exc:
                    log.error("ROLLBACK of a reader failed: %s", exc)
            queue.put_nowait(conn)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[SqliteWriteTx]:
        """One push's transaction: a savepoint inside its group's write transaction (group commit,
        _PushGroup says how). Exits once the group's COMMIT is durable, raising what the COMMIT
        raised; a batch that raises is rolled back to its savepoint and leaves the others alone."""
        async with self._writer_turn() as conn:
            group = self._group
            if group is None:
                group = self._group = _PushGroup()
            tx = SqliteWriteTx(conn)  # begins with its first read (sync_tx.py says why)
            commit_error: sqlite3.Error | None = None
            try:
                try:
                    yield tx
                    stays_open = self._group_stays_open(group, tx)
                    if tx.statements is not None and stays_open:
                        await run_on_connection(conn, execute_and_release, tx.statements)
                    elif tx.statements is not None:  # the last of its group: COMMIT in the same trip
                        commit_error = await run_on_connection(conn, execute_and_commit, tx.statements)
                        tx.group_committed = True
                except BaseException:
                    await self._undo_batch(conn, group, tx)
                    raise
            except sqlite3.Error as exc:
                if (mapped := unavailable(exc)) is None:
                    raise
                raise mapped from exc
            if tx.statements is None:  # read only (a replay of known outcomes): nothing written
                if tx.begun and group.members:
                    await self._undo_batch(conn, group, tx)
            else:
                if not group.members:
                    group.first_applied = asyncio.get_running_loop().time()
                group.members += 1
                group.mutations += tx.mutations
                group.warehouses |= tx.warehouses_written
            if not group.members:
                await self._drop_empty_group(conn, group)
                return
            # A replay may have read outcomes of this very group: it too waits for the COMMIT.
            if tx.group_committed:
                await self._finish_group(group, commit_error)
            elif stays_open:
                # Others are waiting for the writer: they join this transaction, and whoever finds
                # nobody waiting commits it. The flush queues behind those waiting now, so the
                # group is closed even if they all give up.
                if not group.flush_queued:
                    group.flush_queued = True
                    asyncio.get_running_loop().create_task(self._flush(group))
            else:
                await self._end_group()
        await asyncio.shield(group.committed)  # one member's cancelled request leaves the rest

    def _group_stays_open(self, group: _PushGroup, tx: SqliteWriteTx) -> bool:
        """Whether the transaction stays open after this push for the writers waiting now."""
        if not self._writers_waiting or group.mutations + tx.mutations >= self.group_limit:
            return False
        return not group.members or asyncio.get_running_loop().time() - group.first_applied < self.group_wait

    async def _undo_batch(self, conn: aiosqlite.Connection, group: _PushGroup, tx: SqliteWriteTx) -> None:
        """Roll a failed push back to its savepoint; the group's other pushes stay in the
        transaction. If SQLite rolled the whole transaction back by itself (SQLITE_FULL on some
        statements) or the undo fails, the group is lost: its other pushes run again."""
        try:
            if tx.begun:
                await run_on_connection(conn, undo_batch)
        except sqlite3.Error as exc:
            log.error("ROLLBACK TO of a push failed (%s)", exc)
            await self._rollback(conn)
        if conn.in_transaction and group.members:
            return
        if not group.members:
            await self._drop_empty_group(conn, group)
            return
        self._group = None
        await self._rollback(conn)
        group.committed.set_exception(TransactionLost("another push of the group broke its transaction"))

    async def _drop_empty_group(self, conn: aiosqlite.Connection, group: _PushGroup) -> None:
        if self._group is group:
            self._group = None
        await self._rollback(conn)
        group.committed.set_result(None)

    async def _flush(self, group: _PushGroup) -> None:
        # Not counted as a waiting writer: the pushes ahead of it are the group, not this.
        async with self._lock:
            if self._group is group:
                await self._end_group()

    async def _end_group(self) -> None:
        """COMMIT the open group (under the writer lock): one transaction and one fsync for all its
        pushes, then their answers go out and the warehouses they wrote are woken."""
        group, self._group = self._group, None
        if group is None:
            return
        conn = self._w
        try:
            error = await run_on_connection(conn, commit)
        except BaseException:
            # Cancelled while the COMMIT ran on the connection's thread: it finished or it did not.
            committed = not conn.in_transaction
            await self._rollback(conn)
            if committed:
                group.committed.set_result(None)
            else:
                group.committed.set_exception(TransactionLost("the group's COMMIT was cancelled"))
            raise
        await self._finish_group(group, error)

    async def _finish_group(self, group: _PushGroup, error: sqlite3.Error | None) -> None:
        """Answer a group's pushes once its COMMIT ran: each push raises what the COMMIT raised."""
        if self._group is group:
            self._group = None
        if error is not None:
            await self._rollback(self._w)
            group.committed.set_exception(unavailable(error) or StorageError(f"COMMIT failed: {error}"))
            return
        self._written()
        self.group_commits += 1
        group.committed.set_result(None)
        if group.warehouses:
            for listener in list(self._change_listeners):
                listener(frozenset(group.warehouses))

    @asynccontextmanager
    async def listen_changes(self, on_change: Callable[[frozenset[str] | None], None]) -> AsyncIterator[None]:
        """Call `on_change(warehouses)` after every sync commit that changed records, naming the
        warehouses it wrote (one process: the same contract as PostgreSQL's LISTEN)."""
        self._change_listeners.append(on_change)
        try:
            yield
        finally:
            self._change_listeners.remove(on_change)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SqliteReadTx]:
        async with self._reading() as conn:
            yield SqliteReadTx(conn, self.feed_cache)  # begins with its first read (sync_tx.py says why)

    # -- attachments -------------------------------------------------------------------------------
    async def put_attachment(self, meta: AttachmentMeta) -> bool:
        async with self._writing() as conn:
            cursor = await conn.execute(
                f"INSERT OR IGNORE INTO attachments ({ATTACHMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                attachment_row(meta),
            )
            if cursor.rowcount != 1:
                return False
            await conn.execute(_RECOUNT_ARRIVED, (meta.sha256,))  # the clients that owed it
            return True

    async def attachment(self, sha256: str) -> AttachmentMeta | None:
        async with self._reading() as conn:
            rows = list(
                await conn.execute_fetchall(
                    f"SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE sha256 = ?", (sha256,)
                )
            )
        return attachment_from_row(rows[0]) if rows else None

    async def attachments_present(self, hashes: Sequence[str]) -> set[str]:
        if not hashes:
            return set()
        async with self._reading() as conn:
            return await fetch_present(conn, hashes)

    async def attachment_warehouses(self, sha256: str) -> set[str]:
        async with self._reading() as conn:
            rows = await conn.execute_fetchall(
                "SELECT DISTINCT rec.warehouse_id FROM attachment_refs AS ref"
                " JOIN attachments AS a ON a.sha256 = ref.sha256 AND a.uploaded_by = ref.user_id"
                " JOIN records AS rec ON rec.id = ref.record_id WHERE ref.sha256 = ?",
                (sha256,),
            )
        return {row[0] for row in rows}

    async def attachments_visible(
        self, hashes: Sequence[str], warehouse_ids: Sequence[str], user_id: str
    ) -> set[str]:
        if not hashes:
            return set()
        async with self._reading() as conn:
            rows = await conn.execute_fetchall(
                "SELECT a.sha256 FROM attachments AS a WHERE a.sha256 IN (SELECT value FROM json_each(?))"
                " AND (a.uploaded_by = ? OR EXISTS (SELECT 1 FROM attachment_refs AS ref"
                " JOIN records AS rec ON rec.id = ref.record_id WHERE ref.sha256 = a.sha256"
                " AND ref.user_id = a.uploaded_by AND rec.warehouse_id IN (SELECT value FROM json_each(?))))",
                (json_list(hashes), user_id, json_list(warehouse_ids)),
            )
        return {row[0] for row in rows}

    # -- audit log ---------------------------------------------------------------------------------
    async def append_audit(self, entry: AuditEntry) -> int:
        async with self._writing() as conn:
            return await self._append_audit(conn, entry)

    async def _append_audit(self, conn: aiosqlite.Connection, entry: AuditEntry) -> int:
        """Append to the entry's chain inside the caller's write transaction (the one writer holds
        every chain); returns its id in that chain."""
        chain = chain_of(entry)
        rows = list(
            await conn.execute_fetchall(
                f"SELECT {STATE_COLUMNS} FROM warehouse_state WHERE warehouse_id = ?", (chain,)
            )
        )
        held = dict(held_from_row(row) for row in rows)
        if chain not in held:
            held[chain] = Held()
        audit, heads = audit_rows([entry], {chain: held[chain].head})
        await conn.execute(INSERT_AUDIT, audit[0])
        await conn.executemany(UPSERT_STATE, state_rows({}, heads, held))
        return heads[chain].id

    async def audit_head(self, chain: str = SYSTEM_CHAIN) -> tuple[int, str] | None:
        async with self._reading() as conn:
            rows = list(
                await conn.execute_fetchall(
                    "SELECT id, hash FROM audit_log WHERE chain = ? ORDER BY id DESC LIMIT 1", (chain,)
                )
            )
        return (rows[0][0], rows[0][1]) if rows else None

    async def audit_heads(self) -> dict[str, tuple[int, str]]:
        async with self._reading() as conn:
            rows = await conn.execute_fetchall(
                "SELECT warehouse_id, audit_id, audit_hash FROM warehouse_state WHERE audit_id > 0"
            )
        return {str(r[0]): (int(r[1]), str(r[2])) for r in rows}

    async def audit_rows(
        self, chain: str = SYSTEM_CHAIN, after_id: int = 0, batch: int = 2000
    ) -> AsyncIterator[AuditRow]:
        last = after_id
        while True:
            async with self._reading() as conn:
                rows = list(
                    await conn.execute_fetchall(
                        f"SELECT {AUDIT_ROW_COLUMNS} FROM audit_log WHERE chain = ? AND id > ?"
                        " ORDER BY id LIMIT ?",
                        (chain, last, batch),
                    )
                )
            for r in rows:
                yield audit_row_from_row(r)
            if len(rows) < batch:
                return
            last = rows[-1][0]

    async def save_audit_root(self, root: str, at: str, heads: dict[str, tuple[int, str]]) -> None:
        async with self._writing() as conn:
            await conn.execute(
                "INSERT OR IGNORE INTO audit_roots (root, at, heads) VALUES (?, ?, ?)",
                (root, at, encode_heads(heads)),
            )

    async def audit_roots(self, roots: Sequence[str]) -> dict[str, dict[str, tuple[int, str]]]:
        async with self._reading() as conn:
            rows = await conn.execute_fetchall(
                "SELECT root, heads FROM audit_roots WHERE root IN (SELECT value FROM json_each(?))",
                (json_list(roots),),
            )
        return {str(r[0]): decode_heads(r[1]) for r in rows}

    async def audit_chains(self) -> list[str]:
        async with self._reading() as conn:
            rows = await conn.execute_fetchall("SELECT DISTINCT chain FROM audit_log ORDER BY chain")
        return [str(r[0]) for r in rows]

    # -- retention ---------------------------------------------------------------------------------
    async def purge_tombstones(
        self, updated_before: str, audit: PurgeAudit
    ) -> tuple[list[str], dict[str, int], int]:
        """Per warehouse, one transaction (server/retention.py says what a purge keeps): delete its
        deleted records (tombstones; conflict records are never purged) last changed before
        `updated_before`, and every other tombstone of that warehouse of a revision up to the newest
        of them (so "no tombstone at or below the horizon" holds exactly: a phone drops its own by
        that rule and keeps agreeing with the digests), recompute its digest, raise its tombstone
        horizon to the newest purged revision (older pull cursors of it get `reset`) and append
        `audit(warehouse, ids, {warehouse: horizon})` to its chain. Then the system chain gets
        `audit(None, every id, horizons)`. Returns (purged ids, new horizons, that entry's id)."""
        async with self._reading() as conn:
            rows = await conn.execute_fetchall(
                "SELECT DISTINCT warehouse_id FROM records WHERE deleted = 1 AND collection != 'conflicts'"
                " AND updated_at < ? ORDER BY warehouse_id",
                (updated_before,),
            )
        purged: list[str] = []
        horizons: dict[str, int] = {}
        for (warehouse_id,) in rows:
            async with self._writing() as conn:
                ids, horizon = await _purge_warehouse(conn, str(warehouse_id), updated_before)
                if ids:
                    await self._append_audit(
                        conn, audit(str(warehouse_id), ids, {str(warehouse_id): horizon})
                    )
            purged += ids
            if ids:
                horizons[str(warehouse_id)] = horizon
        async with self._writing() as conn:
            entry_id = await self._append_audit(conn, audit(None, purged, horizons))
        return purged, horizons, entry_id


async def _purge_warehouse(
    conn: aiosqlite.Connection, warehouse_id: str, updated_before: str
) -> tuple[list[str], int]:
    rows = list(
        await conn.execute_fetchall(
            "SELECT id, revision FROM records WHERE warehouse_id = ? AND deleted = 1"
            " AND collection != 'conflicts' AND revision <= (SELECT coalesce(max(revision), 0)"
            "   FROM records WHERE warehouse_id = ? AND deleted = 1 AND collection != 'conflicts'"
            "   AND updated_at < ?)"
            " ORDER BY revision",
            (warehouse_id, warehouse_id, updated_before),
        )
    )
    ids = [str(r[0]) for r in rows]
    if not ids:
        return [], 0
    horizon = max(int(r[1]) for r in rows)
    await conn.execute(
        "DELETE FROM records WHERE warehouse_id = ? AND id IN (SELECT value FROM json_each(?))",
        (warehouse_id, json_list(ids)),
    )
    left = await conn.execute_fetchall(
        "SELECT id, revision FROM records WHERE warehouse_id = ?", (warehouse_id,)
    )
    digest = digest_mod.compute([(str(r[0]), int(r[1])) for r in left])
    await conn.execute(
        "INSERT INTO digests (warehouse_id, count, checksum) VALUES (?, ?, ?)"
        " ON CONFLICT (warehouse_id) DO UPDATE SET count = excluded.count, checksum = excluded.checksum",
        (warehouse_id, digest.count, digest.checksum),
    )
    await conn.execute(
        "UPDATE warehouse_state SET tombstone_horizon = max(tombstone_horizon, ?) WHERE warehouse_id = ?",
        (horizon, warehouse_id),
    )
    return ids, horizon


def backup_file(source: Path, target: Path) -> None:
    if target.exists():
        raise Conflict(f"backup target already exists: {target}")
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(source)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def check_database(path: Path) -> None:
    """Raise StorageError unless `path` is an intact Tiga Pilar SQLite database."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = conn.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"{path} is not a usable SQLite database: {exc}") from exc
    if result != "ok":
        raise StorageError(f"{path} fails PRAGMA integrity_check: {result}")
    if not {"audit_log", "records", "schema_version"} <= tables:
        raise StorageError(f"{path} is not a Tiga Pilar database")


def database_in_use(path: Path) -> bool:
    """Whether another connection holds the database: a process that has it open keeps a shared
    lock on the WAL index, so an exclusive locking-mode connection cannot take it."""
    if not path.exists():
        return False
    conn = sqlite3.connect(path, timeout=0)
    try:
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        return getattr(exc, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED")
    finally:
        conn.close()


def restore_file(backup: Path, target: Path, *, force: bool = False) -> None:
    """Copy a backup over (or into a new) database file with SQLite's backup API.

    Refuses when the backup is not an intact database, when the target exists without `force`, and
    when another process has the target open (stop the server first). The copy replaces the target's
    pages inside the target's own locking, so a crash mid-restore leaves the old or the new content,
    and stale -wal/-shm files cannot be replayed over it."""
    if not backup.exists():
        raise StorageError(f"backup not found: {backup}")
    check_database(backup)
    if target.exists() and not force:
        raise Conflict(f"{target} exists: pass --force to replace it with the backup")
    if database_in_use(target):
        raise StorageError(f"{target} is in use: stop the server (and any other tigapilar command) first")
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = WAL")
            dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            dst.close()
    finally:
        src.close()
