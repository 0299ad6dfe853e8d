"""The PostgreSQL backend, for deployments where several server processes (or hosts) share one
database: an asyncpg connection pool, sync batches serialized per warehouse by row locks (pushes to
different warehouses share none), pulls on REPEATABLE READ snapshots, and a NOTIFY naming the
warehouses after every sync commit so live views in every process wake up for their own
(server.storage.postgres.notify).

Selected by a URL such as postgresql://tigapilar:secret@db.example:5432/tigapilar (also
postgres://, and postgresql+asyncpg:// as written for SQLAlchemy). Query parameters are passed to
asyncpg (sslmode=require, ...). See docs/postgres.md.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import asyncpg

from server.models import now_iso
from server.storage import device_sync as ds
from server.storage.base import AttachmentMeta, AuditRow, PurgeAudit, StorageError, StorageUnavailable
from server.storage.postgres import migrations
from server.storage.postgres.accounts import AccountsMixin, affected
from server.storage.postgres.alerts import PostgresAlertsMixin
from server.storage.postgres.notify import ChangeListener
from server.storage.postgres.reports import SupervisorQueriesMixin
from server.storage.postgres.sync_tx import (
    MIGRATE_LOCK,
    PostgresReadTx,
    PostgresWriteTx,
    append_audit_entries,
    fetch_present,
    hold_warehouses,
    lock,
)
from server.storage.postgres.urls import database_name, mask_url, normalize_url, quote_ident, split_url
from server.storage.rows import (
    ATTACHMENT_COLUMNS,
    AUDIT_ROW_COLUMNS,
    attachment_from_row,
    attachment_row,
    audit_row_from_row,
    decode_heads,
    encode_heads,
)
from sync import digest as digest_mod
from sync.audit import SYSTEM_CHAIN
from sync.store import AuditEntry

DATA_DIR_ENV = "TIGAPILAR_DATA_DIR"
DEFAULT_DATA_DIR = Path("data")
"""Attachments directory when none is configured: $TIGAPILAR_DATA_DIR, else ./data (the default
SQLite database's directory). Every server process must see the same files: with several hosts,
shared storage (NFS, ...) mounted at the same path."""


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # connection refused/reset
    TimeoutError,  # no pool connection free in time
    asyncpg.PostgresConnectionError,  # connection lost mid-query
    asyncpg.exceptions.OperatorInterventionError,  # server shutting down, query cancelled
    asyncpg.exceptions.InsufficientResourcesError,  # disk full, out of memory, too many connections
    asyncpg.LockNotAvailableError,  # lock_timeout: another process's batch held the lock too long
    asyncpg.exceptions.TransactionRollbackError,  # serialization failure, deadlock: retry
    asyncpg.ReadOnlySQLTransactionError,  # connected to a standby / read-only after failover
    asyncpg.exceptions.IdleInTransactionSessionTimeoutError,
    asyncpg.InternalClientError,  # protocol state broken by a connection the server killed mid-use
)
"""Errors that mean "the database cannot take this now": the transaction rolled back, the HTTP API
answers 503 storage_unavailable and the client retries, as on SQLite (server/errors.py)."""


def unavailable(exc: BaseException) -> StorageUnavailable | None:
    """The StorageUnavailable an asyncpg/OS error stands for, or None for any other error."""
    # InterfaceError: "connection is closed", or (while we still hold it) "released back to the
    # pool", which asyncpg says when the server terminated the connection under us.
    lost = ("closed", "released back to the pool")
    if isinstance(exc, UNAVAILABLE_ERRORS) or (
        isinstance(exc, asyncpg.InterfaceError) and any(m in str(exc) for m in lost)
    ):
        return StorageUnavailable(f"database unavailable ({type(exc).__name__}): {exc}")
    return None


class PostgresStorage(AccountsMixin, SupervisorQueriesMixin, PostgresAlertsMixin):
    def __init__(
        self,
        url: str,
        *,
        data_dir: str | Path | None = None,
        min_connections: int = 1,
        max_connections: int = 10,
        lock_timeout_s: float = 30,
        acquire_timeout_s: float = 30,
        notify: bool = True,
    ) -> None:
        self.url, self.pooling, self.listen_url = split_url(url)
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self._min = max(1, min_connections)
        self._max = max(self._min, max_connections)
        self._lock_timeout_ms = int(lock_timeout_s * 1000)
        self._acquire_timeout_s = acquire_timeout_s
        self._notify = notify
        self._pool: asyncpg.Pool | None = None
        self._sync_writers = asyncio.Semaphore(max(1, self._max // 2))
        """Sync batches of this process beyond half the pool queue here, before taking a pool
        connection: pushes to different warehouses run at once, but a reconnect storm's pushes
        (some waiting for a warehouse's row lock inside PostgreSQL) never take the whole pool from
        the pulls and logins."""

    def __repr__(self) -> str:
        return f"PostgresStorage({mask_url(self.url)!r})"

    @property
    def database(self) -> str:
        return database_name(self.url)

    # -- lifecycle ---------------------------------------------------------------------------------
    async def _create_pool(self) -> asyncpg.Pool:
        if self.pooling == "transaction":
            # Behind PgBouncer's transaction pooling a session is not ours between transactions:
            # no named prepared statements (PgBouncer 1.18 cannot carry them), and no session
            # settings at startup (PgBouncer refuses them); a push sets its own (_begin_push).
            pool = await asyncpg.create_pool(
                self.url,
                min_size=self._min,
                max_size=self._max,
                statement_cache_size=0,
                server_settings={"application_name": "tigapilar"},
            )
        else:
            pool = await asyncpg.create_pool(
                self.url,
                min_size=self._min,
                max_size=self._max,
                server_settings={
                    "application_name": "tigapilar",
                    # A sync batch waits this long for the pushes before it to the same warehouses,
                    # then fails (503-ish) instead of piling up requests behind a stuck transaction.
                    "lock_timeout": str(self._lock_timeout_ms),
                    "idle_in_transaction_session_timeout": "60000",
                },
            )
        assert pool is not None
        return pool

    async def open(self, *, create: bool = True) -> None:
        if self._pool is not None:
            return
        try:
            try:
                self._pool = await self._create_pool()
            except (asyncpg.InvalidCatalogNameError, asyncpg.ProtocolViolationError) as exc:
                # PgBouncer answers a missing database with a protocol error of its own.
                missing = isinstance(exc, asyncpg.InvalidCatalogNameError) or "does not exist" in str(exc)
                if not missing:
                    raise
                if not create or not self.database:
                    raise StorageError(
                        f"database not found: {mask_url(self.url)} (create it with `tigapilar migrate`)"
                    ) from exc
                # Created on the server itself (the LISTEN address behind PgBouncer).
                await create_database(self.listen_url)
                self._pool = await self._create_pool()
            await self.migrate()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await self.close()
            raise StorageError(f"cannot open {mask_url(self.url)}: {exc}") from exc
        except BaseException:
            await self.close()
            raise
        (self.data_dir / "attachments").mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StorageError("storage is not open")
        return self._pool

    async def migrate(self) -> list[int]:
        applied: list[int] = []
        async with self._acquire() as conn:
            for migration in migrations.load():
                try:
                    async with conn.transaction():
                        await lock(conn, MIGRATE_LOCK)
                        await conn.execute(migrations.SCHEMA_VERSION_TABLE)
                        if await conn.fetchval(
                            "SELECT 1 FROM schema_version WHERE version = $1", migration.version
                        ):
                            continue
                        await conn.execute(migration.sql)
                        await conn.execute(
                            "INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)",
                            migration.version,
                            migration.name,
                            now_iso(),
                        )
                except asyncpg.PostgresError as exc:
                    raise StorageError(f"migration {migration.name} failed: {exc}") from exc
                applied.append(migration.version)
        return applied

    async def schema_version(self) -> int:
        rows = await self._fetch("SELECT coalesce(max(version), 0) FROM schema_version")
        return int(rows[0][0])

    async def database_mark(self, name: str) -> str | None:
        rows = await self._fetch("SELECT value FROM database_marks WHERE name = $1", name)
        return str(rows[0][0]) if rows else None

    async def set_database_mark(self, name: str, value: str) -> None:
        await self._execute(
            "INSERT INTO database_marks (name, value, set_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (name) DO NOTHING",
            name,
            value,
            now_iso(),
        )

    # -- transactions ------------------------------------------------------------------------------
    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; failures of the database (not of our SQL) become StorageUnavailable.
        Whatever transaction the caller left open is rolled back when the pool takes it back."""
        try:
            async with self.pool.acquire(timeout=self._acquire_timeout_s) as conn:
                yield conn
        except (*UNAVAILABLE_ERRORS, asyncpg.InterfaceError) as exc:
            if (mapped := unavailable(exc)) is None:
                raise
            raise mapped from exc

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        if _has_nul(args):
            # PostgreSQL text cannot hold U+0000 (SQLite can), so no stored value matches it; asking
            # would fail with "invalid byte sequence" instead of finding nothing.
            return []
        async with self._acquire() as conn:
            return list(await conn.fetch(sql, *args))

    async def _execute(self, sql: str, *args: Any) -> str:
        async with self._acquire() as conn:
            status: str = await conn.execute(sql, *args)
            return status

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection inside a READ COMMITTED transaction (accounts, reference data)."""
        async with self._acquire() as conn, conn.transaction():
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[PostgresWriteTx]:
        """One push batch at READ COMMITTED. Its prefetch locks the client's row and the rows of the
        warehouses it writes, so every read after it sees all batches committed before to those
        warehouses (by any process) and none of them runs concurrently (sync_tx.py)."""
        async with self._sync_writers, self._acquire() as conn:
            await conn.execute(self._begin_push)
            try:
                tx = PostgresWriteTx(conn, notify=self._notify)
                yield tx
            except BaseException:
                with suppress(asyncpg.InterfaceError, asyncpg.PostgresError, OSError):
                    await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT" if tx.committed else "ROLLBACK")

    @property
    def _begin_push(self) -> str:
        """BEGIN of a push (one round trip, several statements): behind PgBouncer's transaction
        pooling with the session settings a direct connection got at startup, for this
        transaction only."""
        if self.pooling != "transaction":
            return "BEGIN ISOLATION LEVEL READ COMMITTED"
        return (
            "BEGIN ISOLATION LEVEL READ COMMITTED;"
            f" SET LOCAL lock_timeout = {self._lock_timeout_ms};"
            " SET LOCAL idle_in_transaction_session_timeout = 60000"
        )

    @asynccontextmanager
    async def read(self) -> AsyncIterator[PostgresReadTx]:
        """One pull: a REPEATABLE READ READ ONLY snapshot (needs no lock: writers commit in
        revision order, so a snapshot always holds a prefix of the revisions)."""
        async with (
            self._acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield PostgresReadTx(conn)

    def listen_changes(
        self, on_change: Callable[[frozenset[str] | None], None]
    ) -> AbstractAsyncContextManager[Any]:
        """Call `on_change(warehouses)` whenever any process commits a sync batch on this database
        (None: any warehouse may have changed, as after every reconnect):
        `async with storage.listen_changes(hub.notify): ...`."""
        return ChangeListener(self.listen_url, on_change)

    # -- attachments -------------------------------------------------------------------------------
    async def put_attachment(self, meta: AttachmentMeta) -> bool:
        async with self._writing() as conn:
            status = await conn.execute(
                f"INSERT INTO attachments ({ATTACHMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " ON CONFLICT (sha256) DO NOTHING",
                *attachment_row(meta),
            )
            if affected(status) != 1:
                return False
            await conn.execute(ds.RECOUNT_ARRIVED, meta.sha256)  # the clients that owed it
            return True

    async def attachment(self, sha256: str) -> AttachmentMeta | None:
        rows = await self._fetch(f"SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE sha256 = $1", sha256)
        return attachment_from_row(rows[0]) if rows else None

    async def attachments_present(self, hashes: Sequence[str]) -> set[str]:
        if not hashes:
            return set()
        async with self._acquire() as conn:
            return await fetch_present(conn, hashes)

    async def attachment_warehouses(self, sha256: str) -> set[str]:
        rows = await self._fetch(
            "SELECT DISTINCT rec.warehouse_id FROM attachment_refs AS ref"
            " JOIN attachments AS a ON a.sha256 = ref.sha256 AND a.uploaded_by = ref.user_id"
            " JOIN records AS rec ON rec.id = ref.record_id WHERE ref.sha256 = $1",
            sha256,
        )
        return {row[0] for row in rows}

    async def attachments_visible(
        self, hashes: Sequence[str], warehouse_ids: Sequence[str], user_id: str
    ) -> set[str]:
        if not hashes:
            return set()
        rows = await self._fetch(
            "SELECT a.sha256 FROM attachments AS a WHERE a.sha256 = ANY($1::text[])"
            " AND (a.uploaded_by = $2 OR EXISTS (SELECT 1 FROM attachment_refs AS ref"
            " JOIN records AS rec ON rec.id = ref.record_id WHERE ref.sha256 = a.sha256"
            " AND ref.user_id = a.uploaded_by AND rec.warehouse_id = ANY($3::text[])))",
            list(hashes),
            user_id,
            list(warehouse_ids),
        )
        return {row[0] for row in rows}

    # -- audit log ---------------------------------------------------------------------------------
    async def append_audit(self, entry: AuditEntry) -> int:
        async with self._writing() as conn:
            [entry_id] = await append_audit_entries(conn, [entry])
        return entry_id

    async def audit_head(self, chain: str = SYSTEM_CHAIN) -> tuple[int, str] | None:
        rows = await self._fetch(
            "SELECT id, hash FROM audit_log WHERE chain = $1 ORDER BY id DESC LIMIT 1", chain
        )
        return (int(rows[0][0]), rows[0][1]) if rows else None

    async def audit_heads(self) -> dict[str, tuple[int, str]]:
        rows = await self._fetch(
            "SELECT warehouse_id, audit_id, audit_hash FROM warehouse_state WHERE audit_id > 0"
        )
        return {str(r[0]): (int(r[1]), str(r[2])) for r in rows}

    async def audit_rows(
        self, chain: str = SYSTEM_CHAIN, after_id: int = 0, batch: int = 2000
    ) -> AsyncIterator[AuditRow]:
        last = after_id
        while True:
            rows = await self._fetch(
                f"SELECT {AUDIT_ROW_COLUMNS} FROM audit_log WHERE chain = $1 AND id > $2"
                " ORDER BY id LIMIT $3",
                chain,
                last,
                batch,
            )
            for r in rows:
                yield audit_row_from_row(r)
            if len(rows) < batch:
                return
            last = rows[-1][0]

    async def save_audit_root(self, root: str, at: str, heads: dict[str, tuple[int, str]]) -> None:
        await self._execute(
            "INSERT INTO audit_roots (root, at, heads) VALUES ($1, $2, $3) ON CONFLICT (root) DO NOTHING",
            root,
            at,
            encode_heads(heads),
        )

    async def audit_roots(self, roots: Sequence[str]) -> dict[str, dict[str, tuple[int, str]]]:
        rows = await self._fetch(
            "SELECT root, heads FROM audit_roots WHERE root = ANY($1::text[])", list(roots)
        )
        return {str(r[0]): decode_heads(r[1]) for r in rows}

    async def audit_chains(self) -> list[str]:
        rows = await self._fetch('SELECT DISTINCT chain COLLATE "C" FROM audit_log ORDER BY 1')
        return [str(r[0]) for r in rows]

    # -- retention ---------------------------------------------------------------------------------
    async def purge_tombstones(
        self, updated_before: str, audit: PurgeAudit
    ) -> tuple[list[str], dict[str, int], int]:
        """Per warehouse, one transaction holding only that warehouse's row: what
        SqliteStorage.purge_tombstones does, so a purge never stops the pushes of the country."""
        rows = await self._fetch(
            'SELECT DISTINCT warehouse_id COLLATE "C" FROM records'
            " WHERE deleted AND collection <> 'conflicts'"
            ' AND updated_at COLLATE "C" < $1::text ORDER BY 1',
            updated_before,
        )
        purged: list[str] = []
        horizons: dict[str, int] = {}
        for (warehouse_id,) in rows:
            async with self._writing() as conn:
                await hold_warehouses(conn, [warehouse_id])
                ids, horizon = await _purge_warehouse(conn, warehouse_id, updated_before)
                if ids:
                    await append_audit_entries(conn, [audit(warehouse_id, ids, {warehouse_id: horizon})])
            purged += ids
            if ids:
                horizons[warehouse_id] = horizon
        async with self._writing() as conn:
            [entry_id] = await append_audit_entries(conn, [audit(None, purged, horizons)])
        return purged, horizons, entry_id


async def _purge_warehouse(
    conn: asyncpg.Connection, warehouse_id: str, updated_before: str
) -> tuple[list[str], int]:
    rows = await conn.fetch(
        "SELECT id, revision FROM records WHERE warehouse_id = $1 AND deleted AND collection <> 'conflicts'"
        " AND revision <= (SELECT coalesce(max(revision), 0) FROM records WHERE warehouse_id = $1"
        "   AND deleted AND collection <> 'conflicts' AND updated_at COLLATE \"C\" < $2::text)"
        " ORDER BY revision",
        warehouse_id,
        updated_before,
    )
    ids = [str(r[0]) for r in rows]
    if not ids:
        return [], 0
    horizon = max(int(r[1]) for r in rows)
    await conn.execute(
        "DELETE FROM records WHERE warehouse_id = $1 AND id = ANY($2::text[])", warehouse_id, ids
    )
    left = await conn.fetch("SELECT id, revision FROM records WHERE warehouse_id = $1", warehouse_id)
    digest = digest_mod.compute([(str(r[0]), int(r[1])) for r in left])
    await conn.execute(
        "INSERT INTO digests (warehouse_id, count, checksum) VALUES ($1, $2, $3)"
        " ON CONFLICT (warehouse_id) DO UPDATE SET count = excluded.count, checksum = excluded.checksum",
        warehouse_id,
        digest.count,
        digest.checksum,
    )
    await conn.execute(
        "UPDATE warehouse_state SET tombstone_horizon = GREATEST(tombstone_horizon, $1)"
        " WHERE warehouse_id = $2",
        horizon,
        warehouse_id,
    )
    return ids, horizon


def _has_nul(args: Sequence[Any]) -> bool:
    for arg in args:
        if isinstance(arg, str) and "\x00" in arg:
            return True
        if isinstance(arg, list | tuple) and any(isinstance(v, str) and "\x00" in v for v in arg):
            return True
    return False


async def _maintenance_connection(url: str) -> asyncpg.Connection:
    """A connection to the server's maintenance database (postgres, else template1)."""
    try:
        return await asyncpg.connect(url, database="postgres")
    except asyncpg.InvalidCatalogNameError:
        return await asyncpg.connect(url, database="template1")


async def create_database(url: str, *, template: str | None = None) -> bool:
    """CREATE DATABASE named by the URL (on the server of the URL); False when it already exists."""
    url = normalize_url(url)
    name = database_name(url)
    if not name:
        raise StorageError(f"the URL names no database: {mask_url(url)}")
    conn = await _maintenance_connection(url)
    try:
        sql = f"CREATE DATABASE {quote_ident(name)}"
        if template:
            sql += f" TEMPLATE {quote_ident(template)}"
        await conn.execute(sql)
    except asyncpg.DuplicateDatabaseError:
        return False
    finally:
        await conn.close()
    return True


async def drop_database(url: str) -> None:
    """DROP DATABASE IF EXISTS ... WITH (FORCE): for tests and throwaway databases only."""
    url = normalize_url(url)
    name = database_name(url)
    conn = await _maintenance_connection(url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
    finally:
        await conn.close()
