"""Throwaway databases for tests on a PostgreSQL server (never point this at production).

The test suite runs against PostgreSQL when TIGAPILAR_TEST_POSTGRES_URL names a server where the
user may CREATE DATABASE (scripts/postgres start prints such a URL). Each test gets a database of
its own: the first one is migrated once and kept as a template, every later one is
`CREATE DATABASE ... TEMPLATE` (a file copy: tens of milliseconds) and dropped after the test.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import itertools
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from server.storage.postgres.storage import (
    PostgresStorage,
    _maintenance_connection,
    create_database,
    drop_database,
)
from server.storage.postgres.urls import normalize_url, quote_ident, split_url

URL_ENV = "TIGAPILAR_TEST_POSTGRES_URL"
SKIP_REASON = (
    f"PostgreSQL not configured: set {URL_ENV} to a server URL where tests may create databases "
    "(e.g. `export TIGAPILAR_TEST_POSTGRES_URL=$(scripts/postgres start)`)"
)


POOLER_ENV = "TIGAPILAR_TEST_PGBOUNCER_URL"
"""PgBouncer in front of that server (`scripts/postgres pgbouncer`): when set, the databases the
tests' apps and storages use are reached through it, in transaction pooling; creating, dropping and
reading behind the storage's back stay direct."""


def configured_url() -> str | None:
    url = os.environ.get(URL_ENV, "").strip()
    return normalize_url(url) if url else None


def configured_pooler() -> str | None:
    url = os.environ.get(POOLER_ENV, "").strip()
    return normalize_url(url) if url else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def direct_url(url: str) -> str:
    """A URL the tests hand out, for a connection of their own straight to the server (not through
    PgBouncer; without the backend's own parameters)."""
    return split_url(url)[2]


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


class TestDatabases:
    """Creates and drops the databases of one test session (names carry the process id, so two
    sessions on one server do not meet)."""

    __test__ = False  # not a pytest test class

    def __init__(
        self, server_url: str, prefix: str = "tigapilar_test", pooler_url: str | None = None
    ) -> None:
        self.server_url = normalize_url(server_url)
        self.pooler_url = pooler_url
        self.prefix = f"{prefix}_{os.getpid()}"
        self._numbers = itertools.count(1)
        self._template_ready = False
        self.created: set[str] = set()

    def url(self, name: str) -> str:
        """The database on the server itself."""
        return with_database(self.server_url, name)

    def app_url(self, name: str) -> str:
        """The database as the tested storage reaches it: through PgBouncer when one is configured."""
        return with_database(self.pooler_url or self.server_url, name)

    def name_for(self, key: str | Path) -> str:
        """A stable database name for a key (a test's tmp_path): the same key, the same database."""
        digest = hashlib.sha256(str(key).encode()).hexdigest()[:12]
        name = f"{self.prefix}_{digest}"
        self.created.add(name)
        return name

    async def drop_stale(self) -> list[str]:
        """Drop the test databases of sessions whose process is gone (killed runs)."""
        conn = await _maintenance_connection(self.server_url)
        dropped = []
        try:
            for (name,) in await conn.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE 'tigapilar\\_test\\_%'"
            ):
                pid = name.split("_")[2]
                if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                    await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
                    dropped.append(name)
        finally:
            await conn.close()
        return dropped

    async def _ensure_template(self) -> str:
        name = f"{self.prefix}_template"
        if not self._template_ready:
            await self.drop_stale()
            await drop_database(self.url(name))
            await create_database(self.url(name))
            self.created.add(name)
            storage = PostgresStorage(self.url(name), min_connections=1, max_connections=1)
            await storage.open()
            await storage.close()
            self._template_ready = True
        return name

    async def create(self) -> str:
        """URL of a fresh, migrated, empty database."""
        template = await self._ensure_template()
        name = f"{self.prefix}_{next(self._numbers)}"
        self.created.add(name)
        for attempt in range(50):
            try:
                await create_database(self.url(name), template=template)
                break
            except asyncpg.ObjectInUseError:
                # The template's last connection is still closing on the server side.
                if attempt == 49:
                    raise
                await asyncio.sleep(0.1)
        return self.app_url(name)

    async def drop(self, url: str) -> None:
        await drop_database(direct_url(url))
        self.created.discard(urlsplit(url).path.lstrip("/"))

    async def drop_all(self) -> None:
        """Drop every database of this session (and any left by this pid before)."""
        conn = await _maintenance_connection(self.server_url)
        try:
            names = [
                row[0]
                for row in await conn.fetch(
                    "SELECT datname FROM pg_database WHERE datname LIKE $1", self.prefix + "\\_%"
                )
            ]
            for name in set(names) | self.created:
                await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
        finally:
            await conn.close()
        self.created.clear()
        self._template_ready = False


_session: TestDatabases | None = None


def session_databases() -> TestDatabases | None:
    """The TestDatabases of this process, or None when PostgreSQL is not configured."""
    global _session
    url = configured_url()
    if url is None:
        return None
    if _session is None or _session.server_url != url:
        _session = TestDatabases(url, pooler_url=configured_pooler())
    return _session


def postgres_builder(tmp_path: Path) -> PostgresStorage:
    """Storage-contract builder (tests/server/test_storage_contract.py): a PostgresStorage on a
    database named after tmp_path, created by open(). Skips the test when PostgreSQL is not
    configured."""
    databases = session_databases()
    if databases is None:
        import pytest

        pytest.skip(SKIP_REASON)
    return PostgresStorage(databases.app_url(databases.name_for(tmp_path)), data_dir=tmp_path)


def placeholders(sql: str) -> str:
    """SQLite's `?` placeholders as PostgreSQL's $1, $2... (outside quoted literals)."""
    out: list[str] = []
    n = 0
    quote: str | None = None
    for ch in sql:
        if quote:
            quote = None if ch == quote else quote
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "?":
            n += 1
            out.append(f"${n}")
            continue
        out.append(ch)
    return "".join(out)


def fetch_sync(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Run one query on a fresh connection from synchronous code, even inside a running event loop
    (on a worker thread with a loop of its own): for tests that read the database behind the
    storage's back."""

    async def fetch() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(direct_url(url))
        try:
            return [tuple(r) for r in await conn.fetch(placeholders(sql), *args)]
        finally:
            await conn.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, fetch()).result()
