"""The embedded SQLite backend.

Connections: one writer, guarded by an asyncio lock so concurrent requests queue up in the
process instead of meeting "database is locked", and a few reader connections whose BEGIN gives a
WAL snapshot for a pull. Every connection runs with WAL, foreign_keys=ON and a busy_timeout (for
other processes such as the CLI).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite
import msgspec

from server.models import now_iso
from server.storage.base import AttachmentMeta, AuditRow, Conflict, StorageError
from server.storage.sqlite import migrations
from server.storage.sqlite.accounts import AccountsMixin
from server.storage.sqlite.reports import SupervisorQueriesMixin
from server.storage.sqlite.sync_tx import (
    SqliteReadTx,
    SqliteWriteTx,
    audit_rows,
    fetch_present,
)
from sync.audit import GENESIS
from sync.store import AuditEntry

_detail = msgspec.json.Decoder(dict[str, object]).decode


class SqliteStorage(AccountsMixin, SupervisorQueriesMixin):
    def __init__(
        self,
        path: str | Path,
        *,
        data_dir: str | Path | None = None,
        readers: int = 4,
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
        self._audit_head = GENESIS

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
            head = list(
                await self._writer.execute_fetchall("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")
            )
            self._audit_head = head[0][0] if head else GENESIS
            self._readers = asyncio.Queue()
            for _ in range(self._reader_count):
                conn = await self._connect(reader=True)
                self._all_readers.append(conn)
                self._readers.put_nowait(conn)
        except sqlite3.DatabaseError as exc:
            await self.close()
            raise StorageError(f"cannot open {self.path}: {exc}") from exc
        except BaseException:
            await self.close()
            raise
        (self.data_dir / "attachments").mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        readers, self._all_readers, self._readers = self._all_readers, [], None
        for conn in readers:
            await conn.close()
        writer, self._writer = self._writer, None
        if writer is not None:
            await writer.close()

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
                    rows = list(await conn.execute_fetchall("SELECT max(version) FROM schema_version"))
                    if (rows[0][0] or 0) >= migration.version:
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

    async def backup(self, target: str | Path) -> None:
        """Copy the database with SQLite's online backup API: a consistent copy, safe while the
        server is writing."""
        await asyncio.to_thread(backup_file, self.path, Path(target))

    # -- transactions ------------------------------------------------------------------------------
    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[aiosqlite.Connection]:
        """The writer connection inside BEGIN IMMEDIATE ... COMMIT, under the writer lock."""
        async with self._lock:
            conn = self._w
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            try:
                await conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    await conn.execute("ROLLBACK")
                raise

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[aiosqlite.Connection]:
        """Borrow a reader connection (autocommit: each statement sees the latest commit)."""
        if self._readers is None:
            raise StorageError("storage is not open")
        queue = self._readers
        conn = await queue.get()
        try:
            yield conn
        finally:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            queue.put_nowait(conn)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[SqliteWriteTx]:
        async with self._lock:
            conn = self._w
            await conn.execute("BEGIN IMMEDIATE")
            tx = SqliteWriteTx(conn, self._audit_head)
            try:
                yield tx
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            if not tx.committed:
                await conn.execute("ROLLBACK")
                return
            try:
                await conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    await conn.execute("ROLLBACK")
                raise
            self._audit_head = tx.audit_head

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SqliteReadTx]:
        async with self._reading() as conn:
            await conn.execute("BEGIN")
            yield SqliteReadTx(conn)

    # -- attachments -------------------------------------------------------------------------------
    async def put_attachment(self, meta: AttachmentMeta) -> bool:
        async with self._writing() as conn:
            cursor = await conn.execute(
                "INSERT OR IGNORE INTO attachments (sha256, size, mime, path, uploaded_by, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (meta.sha256, meta.size, meta.mime, meta.path, meta.uploaded_by, meta.created_at),
            )
            return cursor.rowcount == 1

    async def attachment(self, sha256: str) -> AttachmentMeta | None:
        async with self._reading() as conn:
            rows = list(
                await conn.execute_fetchall(
                    "SELECT sha256, size, mime, path, uploaded_by, created_at FROM attachments"
                    " WHERE sha256 = ?",
                    (sha256,),
                )
            )
        if not rows:
            return None
        r = rows[0]
        return AttachmentMeta(sha256=r[0], size=r[1], mime=r[2], path=r[3], uploaded_by=r[4], created_at=r[5])

    async def attachments_present(self, hashes: Sequence[str]) -> set[str]:
        if not hashes:
            return set()
        async with self._reading() as conn:
            return await fetch_present(conn, hashes)

    async def attachment_warehouses(self, sha256: str) -> set[str]:
        async with self._reading() as conn:
            rows = await conn.execute_fetchall(
                "SELECT DISTINCT rec.warehouse_id FROM attachment_refs AS ref"
                " JOIN records AS rec ON rec.id = ref.record_id WHERE ref.sha256 = ?",
                (sha256,),
            )
        return {row[0] for row in rows}

    # -- audit log ---------------------------------------------------------------------------------
    async def append_audit(self, entry: AuditEntry) -> int:
        async with self._writing() as conn:
            rows, head = audit_rows([entry], self._audit_head)
            cursor = await conn.execute(
                "INSERT INTO audit_log (at, kind, actor_id, actor_agency, device, warehouse_id, subject,"
                " detail, content, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows[0],
            )
            entry_id = cursor.lastrowid
        self._audit_head = head
        assert entry_id is not None
        return entry_id

    async def audit_head(self) -> tuple[int, str] | None:
        async with self._reading() as conn:
            rows = list(
                await conn.execute_fetchall("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
            )
        return (rows[0][0], rows[0][1]) if rows else None

    async def audit_rows(self, after_id: int = 0, batch: int = 2000) -> AsyncIterator[AuditRow]:
        last = after_id
        while True:
            async with self._reading() as conn:
                rows = list(
                    await conn.execute_fetchall(
                        "SELECT id, at, kind, actor_id, actor_agency, device, warehouse_id, subject, detail,"
                        " content, prev_hash, hash FROM audit_log WHERE id > ? ORDER BY id LIMIT ?",
                        (last, batch),
                    )
                )
            for r in rows:
                entry = AuditEntry(
                    at=r[1],
                    kind=r[2],
                    actor_id=r[3],
                    actor_agency=r[4],
                    device=r[5],
                    warehouse_id=r[6],
                    subject=r[7],
                    detail=_detail(r[8]),
                )
                yield AuditRow(id=r[0], entry=entry, content=bytes(r[9]), prev_hash=r[10], hash=r[11])
            if len(rows) < batch:
                return
            last = rows[-1][0]


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
