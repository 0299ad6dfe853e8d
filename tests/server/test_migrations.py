from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from server.storage import StorageError, open_storage, sqlite_path
from server.storage.sqlite import SqliteStorage, migrations


def test_split_statements_keeps_trigger_bodies_whole() -> None:
    script = """
    -- a comment
    CREATE TABLE a (x INTEGER);

    CREATE TRIGGER t AFTER INSERT ON a BEGIN
        UPDATE a SET x = x + 1;
        DELETE FROM a WHERE x > 10;
    END;
    INSERT INTO a VALUES (1);
    """
    statements = migrations.split_statements(script)
    assert len(statements) == 3
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")


def test_split_statements_refuses_an_unterminated_statement() -> None:
    with pytest.raises(ValueError, match="incomplete"):
        migrations.split_statements("CREATE TABLE a (x INTEGER)")


def test_bundled_migrations_are_numbered_without_gaps() -> None:
    loaded = migrations.load()
    assert [m.version for m in loaded] == list(range(1, len(loaded) + 1))
    assert loaded[0].name == "0001_initial"


def test_migration_files_must_be_well_named(tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE a (x);")
    (tmp_path / "0003_third.sql").write_text("CREATE TABLE c (x);")
    with pytest.raises(ValueError, match="without gaps"):
        migrations.load(tmp_path)
    (tmp_path / "bad.sql").write_text("")
    with pytest.raises(ValueError, match="badly named"):
        migrations.load(tmp_path)


async def test_fresh_database_gets_every_table_and_wal(tmp_path: Path) -> None:
    storage = SqliteStorage(tmp_path / "db" / "t.db")
    await storage.open()
    await storage.close()
    conn = sqlite3.connect(tmp_path / "db" / "t.db")
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        versions = conn.execute("SELECT version, name FROM schema_version").fetchall()
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()
    assert {
        "records",
        "outcomes",
        "client_state",
        "digests",
        "warehouse_state",
        "audit_log",
        "audit_roots",
        "users",
        "devices",
        "warehouses",
        "assignments",
        "templates",
        "stock_item_types",
        "attachments",
        "attachment_refs",
        "login_failures",
        "database_marks",
    } <= tables
    assert versions[:3] == [(1, "0001_initial"), (2, "0002_login_throttle"), (3, "0003_hardening")]
    assert versions == [(m.version, m.name) for m in migrations.load()]
    assert mode == "wal"


async def test_a_failing_migration_rolls_back_and_says_which(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = migrations.load()
    broken = migrations.Migration(
        version=len(good) + 1,
        name="9999_broken",
        statements=["CREATE TABLE half_done (x INTEGER)", "THIS IS NOT SQL"],
    )
    monkeypatch.setattr(migrations, "load", lambda: [*good, broken])
    storage = SqliteStorage(tmp_path / "t.db")
    with pytest.raises(StorageError, match="9999_broken"):
        await storage.open()
    conn = sqlite3.connect(tmp_path / "t.db")
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        top = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
    finally:
        conn.close()
    assert "half_done" not in tables
    assert top == len(good)


def test_database_urls() -> None:
    assert sqlite_path("sqlite:///data/tigapilar.db") == Path("data/tigapilar.db")
    assert sqlite_path("sqlite:////var/lib/tigapilar/db.sqlite") == Path("/var/lib/tigapilar/db.sqlite")
    with pytest.raises(StorageError, match="unsupported"):
        open_storage("mysql://x")
    with pytest.raises(StorageError):
        open_storage("sqlite:///:memory:")
    assert isinstance(open_storage("sqlite:///x.db"), SqliteStorage)
