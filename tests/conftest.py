"""Shared fixtures: a fresh database per test, the app over it, and an HTTP client.

database_url  sqlite:///<tmp_path>/tigapilar.db, or with the PostgreSQL backend a fresh database
              cloned from a migrated template (dropped after the test)
sql_rows      run SQL on that database behind the storage's back, on either backend
postgres_url  a fresh PostgreSQL database for PostgreSQL-only tests (skips when none is configured)
config        Config for that database, a small static/ dir, cheap Argon2
storage       the opened Storage (closed after the test)
app           create_app(config, storage=storage)
client        httpx.AsyncClient over ASGITransport with the app's lifespan running
factory       tests.factories.Factory bound to `storage`

The backend is SQLite unless `--backend postgres` or TIGAPILAR_TEST_DATABASE=postgres (see below).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest
from litestar import Litestar

from server.app import create_app
from server.config import Config
from server.storage import Storage, open_storage, sqlite_path
from server.storage.sqlite import SqliteStorage
from tests.factories import Factory

if TYPE_CHECKING:
    from server.storage.postgres import PostgresStorage

S = TypeVar("S", bound=Storage)

try:
    from server.storage.postgres import testing as pg_testing
except ImportError:  # asyncpg missing: PostgreSQL tests skip
    pg_testing = None  # type: ignore[assignment]

# -- storage backend of the shared fixtures --------------------------------------------------------
# The whole suite runs on SQLite by default. `pytest --backend postgres` (or
# TIGAPILAR_TEST_DATABASE=postgres) runs it on PostgreSQL: TIGAPILAR_TEST_POSTGRES_URL must name a
# server where tests may create databases (`scripts/postgres start` prints one). Tests written for
# PostgreSQL only (tests/server/test_postgres_*.py, the contract's postgres half) run whenever that
# URL is set, and skip with the reason otherwise.
BACKEND_ENV = "TIGAPILAR_TEST_DATABASE"
BACKENDS = ("sqlite", "postgres")
_backend = "sqlite"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=BACKENDS,
        default=None,
        help=f"storage backend of the shared fixtures (default ${BACKEND_ENV} or sqlite); "
        "postgres needs TIGAPILAR_TEST_POSTGRES_URL",
    )


def pytest_configure(config: pytest.Config) -> None:
    global _backend
    chosen = config.getoption("--backend") or os.environ.get(BACKEND_ENV, "").strip() or "sqlite"
    if chosen not in BACKENDS:
        raise pytest.UsageError(f"{BACKEND_ENV}={chosen!r}: expected one of {', '.join(BACKENDS)}")
    if chosen == "postgres" and (pg_testing is None or pg_testing.configured_url() is None):
        raise pytest.UsageError(
            "the postgres backend needs asyncpg and TIGAPILAR_TEST_POSTGRES_URL "
            "(export TIGAPILAR_TEST_POSTGRES_URL=$(scripts/postgres start))"
        )
    _backend = chosen
    config.addinivalue_line(
        "markers",
        "sqlite_only: reads the SQLite file or SQLite internals directly; skipped with --backend postgres",
    )
    config.addinivalue_line(
        "markers",
        "pgbouncer: push, pull, live and audit: also run through PgBouncer (transaction pooling)",
    )


def pytest_itemcollected(item: pytest.Item) -> None:
    # Everything under tests/browser drives Chromium: mark it so `-m "not browser"` can leave it out
    # (a conftest's own pytestmark does not reach the modules beside it).
    if "browser" in item.path.parent.parts[-1:]:
        item.add_marker(pytest.mark.browser)


PGBOUNCER_SUBSET = (
    "test_sync_api.py",
    "test_postgres_sync.py",
    "test_supervisor_live.py",
    "test_audit_chain.py",
    "test_storage_contract.py",
)
"""Modules marked `pgbouncer`: push, pull, live and audit, which `scripts/test` also runs through
PgBouncer in transaction pooling (TIGAPILAR_TEST_PGBOUNCER_URL)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in PGBOUNCER_SUBSET:
            item.add_marker(pytest.mark.pgbouncer)
    if _backend == "sqlite":
        return
    skip = pytest.mark.skip(reason="SQLite-specific (marked sqlite_only); the suite runs on PostgreSQL")
    for item in items:
        if item.get_closest_marker("sqlite_only"):
            item.add_marker(skip)


def pytest_report_header(config: pytest.Config) -> list[str]:
    from server.sync_core import build

    core = f"sync/: {build()}"
    url = pg_testing.configured_url() if pg_testing is not None else None
    if url is None:
        return [f"storage backend: {_backend} (PostgreSQL tests skip: no TIGAPILAR_TEST_POSTGRES_URL)", core]
    from server.storage.postgres import mask_url

    return [f"storage backend: {_backend}; PostgreSQL tests on {mask_url(url)}", core]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    databases = pg_testing.session_databases() if pg_testing is not None else None
    if databases is not None and databases.created:
        asyncio.run(databases.drop_all())


@pytest.fixture
def storage_backend() -> str:
    """Either "sqlite" or "postgres": the backend of `database_url`, `config` and `storage`."""
    return _backend


@pytest.fixture
async def database_url(storage_backend: str, tmp_path: Path) -> AsyncIterator[str]:
    if storage_backend == "sqlite":
        yield f"sqlite:///{tmp_path}/tigapilar.db"
        return
    databases = pg_testing.session_databases() if pg_testing is not None else None
    assert databases is not None
    url = await databases.create()
    try:
        yield url
    finally:
        await databases.drop(url)


@pytest.fixture
def sql_rows(database_url: str, storage_backend: str) -> Callable[..., list[tuple[object, ...]]]:
    """Run one SQL statement on the test's database behind the storage's back, on either backend,
    and return its rows: `sql_rows("SELECT status FROM outcomes WHERE client_id = ?", cid)`. A write
    (to set a case up) is committed. Use the common dialect: `?` placeholders (rewritten to $1, $2...
    for PostgreSQL), `WHERE deleted` rather than `deleted = 1`. BOOLEAN columns come back as 0/1 on
    SQLite and False/True on PostgreSQL, which compare equal in Python."""
    if storage_backend == "sqlite":
        path = sqlite_path(database_url)

        def sqlite_rows(sql: str, *args: object) -> list[tuple[object, ...]]:
            with closing(sqlite3.connect(path)) as conn, conn:
                return [tuple(row) for row in conn.execute(sql, args)]

        return sqlite_rows
    assert pg_testing is not None

    def postgres_rows(sql: str, *args: object) -> list[tuple[object, ...]]:
        return pg_testing.fetch_sync(database_url, sql, *args)

    return postgres_rows


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database whatever --backend says (dropped after the test), for
    PostgreSQL-only tests; skips with the reason when TIGAPILAR_TEST_POSTGRES_URL is not set."""
    databases = pg_testing.session_databases() if pg_testing is not None else None
    if databases is None:
        pytest.skip(pg_testing.SKIP_REASON if pg_testing is not None else "asyncpg is not installed")
    url = await databases.create()
    try:
        yield url
    finally:
        await databases.drop(url)


STATIC_FILES = {
    "index.html": "<!doctype html><title>Tiga Pilar</title><script type=module src=/js/app.js></script>",
    "sw.js": "const VERSION = 'test';",
    "manifest.webmanifest": '{"name": "Tiga Pilar"}',
    "js/app.js": "export const app = 1;",
    "css/app.css": "body { margin: 0 }",
}


@pytest.fixture
def static_dir(tmp_path: Path) -> Path:
    root = tmp_path / "static"
    for name, text in STATIC_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def config(tmp_path: Path, static_dir: Path, database_url: str, storage_backend: str) -> Config:
    return Config(
        database=database_url,
        data_dir=tmp_path if storage_backend != "sqlite" else None,
        static_dir=static_dir,
        argon2_time_cost=1,
        argon2_memory_kib=8,
        # The alert worker runs where a test asks for it (tests/alerts drive its rounds).
        alerts=False,
    )


@asynccontextmanager
async def opened(storage: S) -> AsyncIterator[S]:
    """`storage` opened, and closed again however the block ends."""
    await storage.open()
    try:
        yield storage
    finally:
        await storage.close()


@pytest.fixture
async def storage(tmp_path: Path, database_url: str) -> AsyncIterator[Storage]:
    async with opened(open_storage(database_url, data_dir=tmp_path)) as storage:
        yield storage


@pytest.fixture
async def sqlite_storage(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    """A SqliteStorage on a fresh file whatever --backend says: for tests of SQLite's own paths."""
    async with opened(SqliteStorage(tmp_path / "sqlite.db")) as storage:
        yield storage


@pytest.fixture
async def postgres_storage(postgres_url: str, tmp_path: Path) -> AsyncIterator[PostgresStorage]:
    """A PostgresStorage on a fresh database whatever --backend says (skips without PostgreSQL):
    for tests of PostgreSQL's own paths."""
    from server.storage.postgres import PostgresStorage

    async with opened(PostgresStorage(postgres_url, data_dir=tmp_path)) as storage:
        yield storage


@pytest.fixture
def app(config: Config, storage: Storage) -> Litestar:
    return create_app(config, storage=storage)


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    """Run the app's ASGI lifespan in a task of its own, as a server does (pytest-asyncio may set a
    fixture up and tear it down in different tasks, which anyio's cancel scopes do not allow)."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send(message: Any) -> None:
        await outbox.put(message)

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(app(scope, inbox.get, send))  # type: ignore[arg-type]
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        await task
        raise RuntimeError(f"app failed to start: {started}")
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        stopped = await outbox.get()
        await task
        if stopped["type"] != "lifespan.shutdown.complete":
            raise RuntimeError(f"app failed to shut down: {stopped}")


async def open_client(app: Litestar, base_url: str = "http://testserver") -> AsyncIterator[httpx.AsyncClient]:
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async for c in open_client(app):
        yield c


@pytest.fixture
def factory(storage: Storage) -> Factory:
    return Factory(storage)
