"""Copy a SQLite database into PostgreSQL: a kecamatan that ran Tiga Pilar on one machine joins
a city deployment whose server processes share PostgreSQL.

    tigapilar copy-to-postgres sqlite:///data/tigapilar.db postgresql://tigapilar@db/kecamatan \\
        [--data-dir /srv/tigapilar/data]

Every table is copied column by column, values unchanged: records with their revisions and merge
bookkeeping, the client numbers and stored outcomes (exactly-once survives the move), digests, the
revision counter and tombstone horizon, users with their password hashes, device tokens (phones
stay logged in), templates, attachment metadata, and the audit log with its ids and hash chain. So
phones keep their cursors and queued mutations, and `tigapilar audit verify` passes on the copy.
Failed-login throttling state (`login_failures`) is transient and not copied.

Rules:
* The target must hold no data yet (a fresh database; `tigapilar migrate` may have run on it).
  Two deployments cannot be merged into one database: their revision numbers overlap, and each
  has its own audit chain. One PostgreSQL database per kecamatan deployment; several kecamatan
  databases can live on one PostgreSQL server.
* Both schemas must be at the same migration version (the tool migrates the target; run
  `tigapilar migrate --database sqlite:///...` first if the SQLite file is older).
* Stop the SQLite server first. The copy reads one consistent snapshot; if the source changed
  meanwhile, the tool says so (run it again into a fresh database).

Everything is written in one PostgreSQL transaction holding the sync and audit advisory locks, and
checked before it commits: per table, the row count and an order-independent hash of every value
must equal the source's. With --data-dir, attachment files are copied too (and their SHA-256
checked); otherwise copy `<sqlite dir>/attachments/` to the PostgreSQL servers' data directory.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from server.storage import sqlite_path
from server.storage.base import StorageError
from server.storage.postgres import migrations as pg_migrations
from server.storage.postgres.storage import PostgresStorage
from server.storage.postgres.urls import mask_url, normalize_url, quote_ident

CHUNK = 5000
"""Rows per COPY round trip (and per read from SQLite)."""

DATA_TABLES = ("records", "users", "warehouses", "devices", "client_state", "outcomes", "audit_log")
"""A target with a row in any of these already holds a deployment's data."""

TRANSIENT_TABLES = ("login_failures",)
"""Not copied (the target's are emptied): failed-login throttling state. A lockout lasts at most an
hour; the copy starts without any."""

_row_bytes = msgspec.json.Encoder().encode


class CopyError(StorageError):
    """The copy cannot be done (or did not verify); nothing was committed."""


@dataclass
class TableReport:
    name: str
    rows: int
    checksum: str


@dataclass
class CopyReport:
    tables: list[TableReport] = field(default_factory=list)
    schema_version: int = 0
    revision: int = 0
    audit_entries: int = 0
    audit_head: str | None = None
    files_copied: int = 0
    files_present: int = 0
    files_missing: list[str] = field(default_factory=list)
    source_changed: bool = False

    def describe(self) -> str:
        lines = [f"{t.name:<18} {t.rows:>9} rows  sum {t.checksum[:16]}" for t in self.tables]
        lines.append(f"schema version {self.schema_version}, revision {self.revision}, "
                     f"{self.audit_entries} audit entries (head {self.audit_head or '-'})")  # fmt: skip
        if self.files_copied or self.files_present or self.files_missing:
            lines.append(
                f"attachments: {self.files_copied} copied, {self.files_present} already there, "
                f"{len(self.files_missing)} missing in the source"
            )
        return "\n".join(lines)


# -- values ----------------------------------------------------------------------------------------
def _converter(pg_type: str, table: str, column: str) -> Callable[[Any], Any]:
    """SQLite value -> the value PostgreSQL stores for a column of that type (None stays None)."""

    def fail(value: Any) -> Any:
        raise CopyError(f"{table}.{column}: cannot store {type(value).__name__} {value!r:.60} as {pg_type}")

    def to_bool(value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        return fail(value)

    def to_int(value: Any) -> Any:
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        return fail(value)

    def to_float(value: Any) -> Any:
        # SQLite's REAL column hands back an int when the value is whole (a time of exactly 0 ms).
        if value is None or isinstance(value, float):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return fail(value)

    def to_bytes(value: Any) -> Any:
        if value is None or isinstance(value, bytes):
            return value
        if isinstance(value, str):
            return value.encode("utf-8")
        return fail(value)

    def to_text(value: Any) -> Any:
        if value is None:
            return value
        if not isinstance(value, str):
            return fail(value)
        if "\x00" in value:
            raise CopyError(f"{table}.{column}: PostgreSQL text cannot hold a NUL character: {value!r:.60}")
        return value

    if pg_type == "boolean":
        return to_bool
    if pg_type in ("bigint", "integer", "smallint"):
        return to_int
    if pg_type == "double precision":
        return to_float
    if pg_type == "bytea":
        return to_bytes
    if pg_type == "text":
        return to_text
    raise CopyError(f"{table}.{column}: column type {pg_type} is not handled by the copy tool")


class TableSum:
    """Order-independent hash of a table's rows: the sum of SHA-256 of each row's values (as
    PostgreSQL stores them) modulo 2**256. Equal sums and counts mean equal multisets of rows."""

    def __init__(self) -> None:
        self.total = 0
        self.rows = 0

    def add(self, row: Sequence[Any]) -> None:
        digest = hashlib.sha256(_row_bytes(list(row))).digest()
        self.total = (self.total + int.from_bytes(digest, "big")) % (1 << 256)
        self.rows += 1

    def hexdigest(self) -> str:
        return f"{self.total:064x}"


# -- source ----------------------------------------------------------------------------------------
def _open_source(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise CopyError(f"SQLite database not found: {path}")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA query_only = ON")
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def _source_tables(conn: sqlite3.Connection) -> dict[str, list[str]]:
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return {name: [c[1] for c in conn.execute(f"PRAGMA table_info({quote_ident(name)})")] for name in names}


def _source_mark(conn: sqlite3.Connection) -> tuple[Any, ...]:
    """What changes whenever the source is written (sync batches, logins, account changes)."""
    revision = conn.execute(
        "SELECT sum(revision), sum(tombstone_horizon), sum(audit_id) FROM warehouse_state"
    ).fetchone()
    audit = conn.execute("SELECT count(*) FROM audit_log").fetchone()
    return (*revision, *audit, conn.execute("SELECT count(*) FROM devices").fetchone()[0])


def _read_chunks(
    conn: sqlite3.Connection, table: str, columns: Sequence[str]
) -> Iterator[list[tuple[Any, ...]]]:
    cursor = conn.execute(f"SELECT {', '.join(quote_ident(c) for c in columns)} FROM {quote_ident(table)}")
    while True:
        rows = cursor.fetchmany(CHUNK)
        if not rows:
            return
        yield rows


# -- target ----------------------------------------------------------------------------------------
async def _target_tables(conn: asyncpg.Connection) -> dict[str, list[tuple[str, str]]]:
    rows = await conn.fetch(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    )
    tables: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        tables.setdefault(r[0], []).append((r[1], r[2]))
    return tables


async def _insert_order(conn: asyncpg.Connection, tables: Sequence[str]) -> list[str]:
    """Tables ordered so that every foreign key points to a table copied before."""
    edges = await conn.fetch(
        "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint AS c"
        " WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace"
    )
    needs: dict[str, set[str]] = {t: set() for t in tables}
    for child, parent in edges:
        if child in needs and parent != child:
            needs[child].add(parent)
    ordered: list[str] = []
    while needs:
        ready = sorted(t for t, deps in needs.items() if not deps - set(ordered))
        if not ready:
            raise CopyError(f"foreign keys form a cycle among {sorted(needs)}")
        for t in ready:
            ordered.append(t)
            del needs[t]
    return ordered


async def _table_sum(conn: asyncpg.Connection, table: str, columns: Sequence[str]) -> TableSum:
    total = TableSum()
    cols = ", ".join(quote_ident(c) for c in columns)
    async for row in conn.cursor(f"SELECT {cols} FROM {quote_ident(table)}", prefetch=CHUNK):
        total.add([bytes(v) if isinstance(v, memoryview) else v for v in row])
    return total


# -- the copy --------------------------------------------------------------------------------------
async def copy_sqlite_to_postgres(
    sqlite_url: str,
    postgres_url: str,
    *,
    data_dir: str | Path | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> CopyReport:
    """Copy everything from a SQLite database into an empty PostgreSQL database (see the module
    docstring). Raises CopyError (nothing committed) when it cannot or when the check fails."""
    source_path = sqlite_path(sqlite_url) if "://" in sqlite_url else Path(sqlite_url)
    postgres_url = normalize_url(postgres_url)
    source = _open_source(source_path)
    report = CopyReport()
    try:
        source_tables = _source_tables(source)
        if "schema_version" not in source_tables:
            raise CopyError(f"{source_path} is not a Tiga Pilar database (no schema_version table)")
        source_version = source.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0
        latest = pg_migrations.load()[-1].version
        if source_version < latest:
            raise CopyError(
                f"the SQLite database is at schema version {source_version}, this server's is {latest}: "
                f"run `tigapilar migrate --database {sqlite_url}` first"
            )
        if source_version > latest:
            raise CopyError(
                f"the SQLite database is at schema version {source_version}, newer than this server's "
                f"({latest}): copy it with the newer version of tigapilar"
            )
        report.schema_version = source_version

        # Create (if allowed) and migrate the target with the storage itself, then copy on a plain
        # connection in one transaction.
        target = PostgresStorage(postgres_url, data_dir=data_dir, max_connections=1, notify=False)
        await target.open(create=True)
        await target.close()
        conn = await asyncpg.connect(postgres_url)
        try:
            source.execute("BEGIN")  # one read snapshot of the whole source
            mark = _source_mark(source)
            async with conn.transaction():
                # No push, purge or audit append of a running server commits in between.
                await conn.execute("LOCK TABLE warehouse_state IN EXCLUSIVE MODE")
                await _copy_tables(conn, source, source_tables, report, log)
            attachments = [
                (r[0], r[1]) for r in source.execute("SELECT sha256, path FROM attachments ORDER BY sha256")
            ]
            source.execute("COMMIT")
            report.source_changed = _source_mark(source) != mark
        finally:
            await conn.close()
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise CopyError(f"copy into {mask_url(postgres_url)} failed: {exc}") from exc
    finally:
        source.close()

    if data_dir is not None:
        await asyncio.to_thread(_copy_files, attachments, source_path.parent, Path(data_dir), report, log)
    return report


async def _copy_tables(
    conn: asyncpg.Connection,
    source: sqlite3.Connection,
    source_tables: dict[str, list[str]],
    report: CopyReport,
    log: Callable[[str], None],
) -> None:
    target_tables = await _target_tables(conn)
    tables = sorted(t for t in target_tables if t != "schema_version")
    if sorted(t for t in source_tables if t != "schema_version") != tables:
        raise CopyError(
            "the two schemas have different tables (source "
            f"{sorted(source_tables)}, target {sorted(target_tables)}): are both at the same version?"
        )
    for table in tables:
        target_columns = [c for c, _ in target_tables[table]]
        if sorted(source_tables[table]) != sorted(target_columns):
            raise CopyError(
                f"table {table}: columns differ (source {source_tables[table]}, target {target_columns})"
            )
    busy = [
        t for t in DATA_TABLES if t in tables and await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {t})")
    ]
    if busy:
        raise CopyError(
            f"the target database already holds data ({', '.join(busy)}): copy into a fresh database "
            "(two deployments cannot be merged: their revisions and audit chains would collide)"
        )
    # Reference data installed by `tigapilar migrate` and the migration's warehouse_state row go; the
    # source's replace them.
    await conn.execute(f"TRUNCATE {', '.join(quote_ident(t) for t in tables)}")

    for table in await _insert_order(conn, [t for t in tables if t not in TRANSIENT_TABLES]):
        columns = [c for c, _ in target_tables[table]]
        convert = [_converter(pg_type, table, c) for c, pg_type in target_tables[table]]
        expected = TableSum()
        for chunk in _read_chunks(source, table, columns):
            rows = [tuple(f(v) for f, v in zip(convert, row, strict=True)) for row in chunk]
            for row in rows:
                expected.add(row)
            await conn.copy_records_to_table(table, records=rows, columns=columns)
        # Identity columns continue after the copied ids.
        for column in columns:
            sequence = await conn.fetchval("SELECT pg_get_serial_sequence($1, $2)", table, column)
            if sequence and expected.rows:
                top = f"SELECT max({quote_ident(column)}) FROM {quote_ident(table)}"
                await conn.execute(f"SELECT setval($1::regclass, ({top}))", sequence)
        stored = await _table_sum(conn, table, columns)
        if (stored.rows, stored.total) != (expected.rows, expected.total):
            raise CopyError(
                f"table {table}: the copy differs from the source ({stored.rows} rows stored, "
                f"{expected.rows} read): nothing was committed"
            )
        report.tables.append(TableReport(name=table, rows=expected.rows, checksum=expected.hexdigest()))
        log(f"copied {table}: {expected.rows} rows")

    report.revision = int(await conn.fetchval("SELECT coalesce(max(revision), 0) FROM warehouse_state"))
    report.audit_entries = int(await conn.fetchval("SELECT count(*) FROM audit_log"))
    heads = (
        "SELECT chain, id, hash FROM audit_log AS a"
        " WHERE id = (SELECT max(id) FROM audit_log WHERE chain = a.chain)"
    )
    report.audit_head = await conn.fetchval(
        "SELECT hash FROM audit_log WHERE chain = '' ORDER BY id DESC LIMIT 1"
    )
    target_heads = {(r[0], int(r[1]), r[2]) for r in await conn.fetch(heads)}
    if {(r[0], int(r[1]), r[2]) for r in source.execute(heads)} != target_heads:
        raise CopyError("the audit chain heads differ from the source's: nothing was committed")


def _copy_files(
    attachments: Sequence[tuple[str, str]],
    source_dir: Path,
    target_dir: Path,
    report: CopyReport,
    log: Callable[[str], None],
) -> None:
    """Copy the attachment files listed in the metadata, checking each file's SHA-256."""
    if source_dir.resolve() == target_dir.resolve():
        report.files_present = len(attachments)
        return
    for sha, relative in attachments:
        src, dst = source_dir / relative, target_dir / relative
        if dst.is_file() and _sha256(dst) == sha:
            report.files_present += 1
            continue
        if not src.is_file():
            report.files_missing.append(sha)
            continue
        if _sha256(src) != sha:
            raise CopyError(f"attachment {src} does not match its SHA-256 {sha}")
        dst.parent.mkdir(parents=True, exist_ok=True)
        partial = dst.with_name(dst.name + ".part")
        shutil.copyfile(src, partial)
        partial.replace(dst)
        report.files_copied += 1
    log(f"attachments: {report.files_copied} copied, {report.files_present} already there")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
