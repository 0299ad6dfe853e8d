"""What the storage contract does not cover about the PostgreSQL backend: migrations kept in step
with SQLite's, opening and creating databases, URLs, and PostgreSQL-specific behaviour.

Tests that need a server skip, with the reason, unless TIGAPILAR_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg
import pytest

from server.models import UserInput
from server.storage import StorageError, open_storage
from server.storage.postgres import PostgresStorage, mask_url, normalize_url
from server.storage.postgres import migrations as pg_migrations
from server.storage.postgres.storage import database_name
from server.storage.postgres.testing import session_databases, with_database
from server.storage.sqlite import SqliteStorage
from server.storage.sqlite import migrations as sqlite_migrations

SQLITE_TO_PG = {
    "INTEGER": {"bigint", "integer", "boolean"},
    "REAL": {"double precision"},
    "TEXT": {"text"},
    "BLOB": {"bytea"},
}


# -- without a server ------------------------------------------------------------------------------
def test_migrations_are_numbered_and_named_like_sqlites() -> None:
    assert [(m.version, m.name) for m in pg_migrations.load()] == [
        (m.version, m.name) for m in sqlite_migrations.load()
    ]


def test_migration_files_must_be_well_named(tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE a (x INT);")
    (tmp_path / "0003_third.sql").write_text("CREATE TABLE c (x INT);")
    assert [m.version for m in pg_migrations.load(tmp_path)] == [1, 3]  # 0002 may land later
    (tmp_path / "0003_other.sql").write_text("CREATE TABLE d (x INT);")
    with pytest.raises(ValueError, match="distinct"):
        pg_migrations.load(tmp_path)
    (tmp_path / "0003_other.sql").unlink()
    (tmp_path / "bad.sql").write_text("")
    with pytest.raises(ValueError, match="badly named"):
        pg_migrations.load(tmp_path)


def test_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIGAPILAR_DATA_DIR", raising=False)
    assert isinstance(open_storage("postgresql://u:p@localhost/db"), PostgresStorage)
    assert isinstance(open_storage("postgres://u@localhost/db"), PostgresStorage)
    assert isinstance(open_storage("postgresql+asyncpg://u@localhost/db"), PostgresStorage)
    assert (
        normalize_url("postgresql+asyncpg://u@h:5/db?sslmode=require")
        == "postgresql://u@h:5/db?sslmode=require"
    )
    assert (
        mask_url("postgresql://tiga:s3cret@db.example:5432/tp") == "postgresql://tiga:***@db.example:5432/tp"
    )
    assert mask_url("postgresql://tiga@db.example/tp") == "postgresql://tiga@db.example/tp"
    assert "s3cret" not in repr(PostgresStorage("postgresql://tiga:s3cret@db.example/tp"))
    assert database_name("postgresql://u@h/kota%20jakarta") == "kota jakarta"
    with pytest.raises(StorageError):
        normalize_url("mysql://x")
    assert PostgresStorage("postgresql://u@h/db").data_dir == Path("data")
    assert PostgresStorage("postgresql://u@h/db", data_dir="/srv/tp").data_dir == Path("/srv/tp")
    monkeypatch.setenv("TIGAPILAR_DATA_DIR", "/srv/shared")
    assert PostgresStorage("postgresql://u@h/db").data_dir == Path("/srv/shared")


async def test_an_unreachable_server_is_a_storage_error_without_the_password(tmp_path: Path) -> None:
    storage = PostgresStorage("postgresql://tiga:s3cret@127.0.0.1:1/tp", data_dir=tmp_path)
    with pytest.raises(StorageError) as raised:
        await storage.open()
    assert "s3cret" not in str(raised.value)
    assert "127.0.0.1:1" in str(raised.value)


# -- with a server ---------------------------------------------------------------------------------
async def _pg_columns(url: str) -> dict[str, list[tuple[str, str, bool]]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns"
            " WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        )
    finally:
        await conn.close()
    tables: dict[str, list[tuple[str, str, bool]]] = {}
    for r in rows:
        tables.setdefault(r[0], []).append((r[1], r[2], r[3] == "YES"))
    return tables


def _sqlite_columns(path: Path) -> dict[str, list[tuple[str, str, bool]]]:
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            name: [
                (c[1], c[2].upper(), not c[3] and not c[5])
                for c in conn.execute(f"PRAGMA table_info({name})")
            ]
            for name in names
            if not name.startswith("sqlite_")
        }
    finally:
        conn.close()


async def test_the_schema_has_the_same_tables_and_columns_as_sqlite(
    postgres_url: str, tmp_path: Path
) -> None:
    sqlite = SqliteStorage(tmp_path / "t.db")
    await sqlite.open()
    await sqlite.close()
    lite = _sqlite_columns(tmp_path / "t.db")
    pg = await _pg_columns(postgres_url)
    assert sorted(pg) == sorted(lite)
    for table, columns in lite.items():
        assert [c[0] for c in pg[table]] == [c[0] for c in columns], table
        for (name, lite_type, lite_null), (_, pg_type, pg_null) in zip(columns, pg[table], strict=True):
            assert pg_type in SQLITE_TO_PG[lite_type], f"{table}.{name}: {lite_type} vs {pg_type}"
            if table != "schema_version":
                assert pg_null == lite_null, f"{table}.{name} nullability"


async def test_open_creates_a_missing_database_and_without_create_refuses(tmp_path: Path) -> None:
    databases = session_databases()
    if databases is None:
        pytest.skip("PostgreSQL not configured")
    url = with_database(databases.server_url, databases.name_for(tmp_path / "new"))
    storage = PostgresStorage(url, data_dir=tmp_path)
    with pytest.raises(StorageError, match="database not found"):
        await storage.open(create=False)
    await storage.open()
    try:
        assert await storage.schema_version() == pg_migrations.load()[-1].version
        assert await storage.migrate() == []
        assert (tmp_path / "attachments").is_dir()
    finally:
        await storage.close()
        await databases.drop(url)


async def test_a_failing_migration_rolls_back_and_says_which(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    databases = session_databases()
    if databases is None:
        pytest.skip("PostgreSQL not configured")
    url = with_database(databases.server_url, databases.name_for(tmp_path / "broken"))
    good = pg_migrations.load()
    broken = pg_migrations.Migration(
        version=good[-1].version + 1,
        name="9999_broken",
        sql="CREATE TABLE half_done (x INT); THIS IS NOT SQL;",
    )
    monkeypatch.setattr(pg_migrations, "load", lambda: [*good, broken])
    try:
        with pytest.raises(StorageError, match="9999_broken"):
            await PostgresStorage(url, data_dir=tmp_path).open()
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("SELECT to_regclass('half_done')") is None
            assert await conn.fetchval("SELECT max(version) FROM schema_version") == good[-1].version
        finally:
            await conn.close()
    finally:
        await databases.drop(url)


async def test_usernames_fold_ascii_case_only_like_sqlite_nocase(postgres_url: str, tmp_path: Path) -> None:
    storage = PostgresStorage(postgres_url, data_dir=tmp_path)
    await storage.open()
    try:
        await storage.create_user("u1", UserInput(username="Ägus", full_name="Agus", agency="TNI"), "h")
        await storage.create_user("u2", UserInput(username="ägus", full_name="Agus 2", agency="TNI"), "h")
        found = await storage.user_by_username("äGUS")
        assert found is not None and found[0].id == "u2"
        assert (await storage.user_by_username("ÄGUS")) is not None
    finally:
        await storage.close()


async def test_a_nul_character_finds_nothing_instead_of_failing(postgres_url: str, tmp_path: Path) -> None:
    """PostgreSQL text cannot hold U+0000 (SQLite can): a lookup with one matches nothing."""
    storage = PostgresStorage(postgres_url, data_dir=tmp_path)
    await storage.open()
    try:
        assert await storage.user_by_username("sla\x00met") is None
        assert await storage.warehouse("w\x00") is None
        assert await storage.warehouses(["w\x00"]) == []
        assert await storage.get_template("t\x00") is None
    finally:
        await storage.close()
