from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import asyncpg
import msgspec
import pytest
from litestar.datastructures import State

from server.audit import verify_log
from server.models import Warehouse
from server.overview import build_overview
from server.reports import Settings
from server.storage import StorageError, open_storage, sqlite_path
from server.storage.alerts import NewDelivery
from server.storage.postgres import PostgresStorage
from server.storage.postgres import migrations as pg_migrations
from server.storage.postgres.testing import session_databases, with_database
from server.storage.rows import audit_rows
from server.storage.sqlite import SqliteStorage, migrations
from sync.audit import SYSTEM_CHAIN, Head
from sync.engine import SyncEngine
from sync.store import AlertEvent, AuditEntry
from tests.factories import assert_summaries_are_folds
from tests.server.test_schema_rule import shape_of
from tests.sync.helpers import OTHER_WH, WH, Phone, actor, incident


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


def test_bundled_migrations_are_numbered_in_order() -> None:
    loaded = migrations.load()
    versions = [m.version for m in loaded]
    assert versions == sorted(set(versions))
    assert loaded[0].name == "0001_initial"


def test_migration_files_must_be_well_named(tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE a (x);")
    (tmp_path / "0003_third.sql").write_text("CREATE TABLE c (x);")
    assert [m.version for m in migrations.load(tmp_path)] == [1, 3]  # 0002 may land later
    (tmp_path / "0003_other.sql").write_text("CREATE TABLE d (x);")
    with pytest.raises(ValueError, match="distinct"):
        migrations.load(tmp_path)
    (tmp_path / "0003_other.sql").unlink()
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
        version=good[-1].version + 1,
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
    assert top == good[-1].version


async def test_a_migration_numbered_below_one_applied_is_applied_when_it_arrives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Numbers are handed out ahead and land in any order: a database that got 0008 while 0007
    was still being written gets 0007 when it lands (it was skipped by "above the highest")."""
    bundled = migrations.load()
    late = migrations.Migration(
        version=bundled[-1].version + 2, name="late", statements=["CREATE TABLE landed_late (x INTEGER)"]
    )
    later = migrations.Migration(
        version=bundled[-1].version + 3, name="later", statements=["CREATE TABLE landed_first (x INTEGER)"]
    )
    monkeypatch.setattr(migrations, "load", lambda: [*bundled, later])
    storage = SqliteStorage(tmp_path / "t.db")
    await storage.open()
    await storage.close()
    monkeypatch.setattr(migrations, "load", lambda: [*bundled, late, later])
    await storage.open()
    try:
        assert await storage.migrate() == []  # and again: nothing left to apply
    finally:
        await storage.close()
    conn = sqlite3.connect(tmp_path / "t.db")
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_version ORDER BY version")]
    finally:
        conn.close()
    assert {"landed_late", "landed_first"} <= tables
    assert versions == [m.version for m in [*bundled, late, later]]


def _entries() -> list[AuditEntry]:
    return [
        AuditEntry(
            at=f"2026-12-01T00:00:0{n}.000Z",
            kind="mutation",
            actor_id="u-petugas",
            actor_agency="POLRI",
            device="c-phone",
            warehouse_id=None,
            subject=f"incidents/inc-{n}",
            detail={"seq": n, "note": f"segel nomor {n} rusak"},
        )
        for n in range(1, 4)
    ]


async def test_0008_drops_the_audit_detail_copy_and_reads_it_from_the_hashed_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entries written before 0008 (with their `detail` column) keep every fact: after it the
    detail is read from the content, the chain verifies, and the supervisor's search finds an entry
    by a word of its detail; entries written after it have no copy at all."""
    bundled = migrations.load()
    monkeypatch.setattr(migrations, "load", lambda: [m for m in bundled if m.version < 8])
    path = tmp_path / "t.db"
    storage = SqliteStorage(path)
    await storage.open()
    await storage.close()
    rows, _ = audit_rows(_entries(), {SYSTEM_CHAIN: Head()})
    conn = sqlite3.connect(path)
    try:
        conn.executemany(
            "INSERT INTO audit_log (id, at, kind, actor_id, actor_agency, device, warehouse_id, subject,"
            " content, prev_hash, hash, chain, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*row, msgspec.json.encode(e.detail).decode()) for row, e in zip(rows, _entries(), strict=True)],
        )
        conn.execute(
            "UPDATE warehouse_state SET audit_id = ?, audit_hash = ?, audit_at = ? WHERE warehouse_id = ''",
            (rows[-1][0], rows[-1][10], rows[-1][1]),
        )
        conn.commit()
    finally:
        conn.close()

    monkeypatch.setattr(migrations, "load", lambda: bundled)
    await storage.open()
    try:
        assert await storage.schema_version() >= 8
        after = _entries()[0]
        await storage.append_audit(msgspec.structs.replace(after, at="2026-12-01T00:00:09.000Z"))
        stored = [row async for row in storage.audit_rows()]
        assert [r.entry.detail for r in stored] == [e.detail for e in _entries()] + [after.detail]
        report = await verify_log(storage)
        assert report.ok and report.count == 4, report.reason
        found = await storage.audit_search(warehouse_ids=[], include_global=True, query="NOMOR 2")
        assert [r.entry.subject for r in found] == ["incidents/inc-2"]
    finally:
        await storage.close()
    conn = sqlite3.connect(path)
    try:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(audit_log)")]
    finally:
        conn.close()
    assert "detail" not in columns and "content" in columns


def test_database_urls() -> None:
    assert sqlite_path("sqlite:///data/tigapilar.db") == Path("data/tigapilar.db")
    assert sqlite_path("sqlite:////var/lib/tigapilar/db.sqlite") == Path("/var/lib/tigapilar/db.sqlite")
    with pytest.raises(StorageError, match="unsupported"):
        open_storage("mysql://x")
    with pytest.raises(StorageError):
        open_storage("sqlite:///:memory:")
    assert isinstance(open_storage("sqlite:///x.db"), SqliteStorage)


async def test_0008_on_postgresql_keeps_every_detail_and_the_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same on PostgreSQL: rows written with the column keep their detail (from the content)
    after 0008, the chain verifies, the search finds them by their detail, and a content that is
    not JSON (tampered) makes the search skip the row instead of failing."""
    databases = session_databases()
    if databases is None:
        pytest.skip("PostgreSQL not configured")
    url = with_database(databases.server_url, databases.name_for(tmp_path / "m8"))
    bundled = pg_migrations.load()
    monkeypatch.setattr(pg_migrations, "load", lambda: [m for m in bundled if m.version < 8])
    storage = PostgresStorage(url, data_dir=tmp_path)
    try:
        await storage.open()
        await storage.close()
        rows, _ = audit_rows(_entries(), {SYSTEM_CHAIN: Head()})
        conn = await asyncpg.connect(url)
        try:
            await conn.executemany(
                "INSERT INTO audit_log (id, at, kind, actor_id, actor_agency, device, warehouse_id, subject,"
                " content, prev_hash, hash, chain, detail)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                [
                    (*row, msgspec.json.encode(e.detail).decode())
                    for row, e in zip(rows, _entries(), strict=True)
                ],
            )
            await conn.execute(
                "UPDATE warehouse_state SET audit_id = $1, audit_hash = $2, audit_at = $3"
                " WHERE warehouse_id = ''",
                rows[-1][0],
                rows[-1][10],
                rows[-1][1],
            )
        finally:
            await conn.close()
        monkeypatch.setattr(pg_migrations, "load", lambda: bundled)
        await storage.open()
        try:
            stored = [row async for row in storage.audit_rows()]
            assert [r.entry.detail for r in stored] == [e.detail for e in _entries()]
            report = await verify_log(storage)
            assert report.ok and report.count == 3, report.reason
            found = await storage.audit_search(warehouse_ids=[], include_global=True, query="NOMOR 2")
            assert [r.entry.subject for r in found] == ["incidents/inc-2"]
            conn = await asyncpg.connect(url)
            try:
                await conn.execute("UPDATE audit_log SET content = 'not json'::bytea WHERE id = 3")
                columns = await conn.fetch(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = 'audit_log'"
                )
            finally:
                await conn.close()
            assert "detail" not in {c[0] for c in columns}
            found = await storage.audit_search(warehouse_ids=[], include_global=True, query="nomor")
            assert [r.entry.subject for r in found] == ["incidents/inc-2", "incidents/inc-1"]
        finally:
            await storage.close()
    finally:
        await databases.drop(url)


async def test_migration_7_on_a_database_with_data_and_queued_offline_edits_pushed_after_it(
    database_url: str, sql_rows: Callable[..., list[tuple[object, ...]]], tmp_path: Path
) -> None:
    """A database written before 0007 (warehouse_summary) has records and a phone with edits
    queued offline. After the migration no summary exists; the queued edits are applied exactly once
    and their push keeps its warehouse's summary; the overview folds a warehouse nobody pushed to
    since once and keeps it; every kept summary is the fold of the records (both backends)."""
    storage = open_storage(database_url, data_dir=tmp_path)
    await storage.open()
    engine = SyncEngine(storage)
    for wid in (WH, OTHER_WH):
        await storage.put_warehouse(Warehouse(id=wid, code=wid, name=f"Gudang {wid}"))
    other = Phone(engine, actor("rina", warehouses=(OTHER_WH,)))
    other.mutate("create", "inc-other", "incidents", incident(9), warehouse_id=OTHER_WH)
    await other.sync()
    offline = Phone(engine, actor("budi", warehouses=(WH, OTHER_WH)))
    for n in range(3):
        offline.mutate("create", f"inc-{n}", "incidents", incident(n, severity="kritis"), warehouse_id=WH)
    await offline.sync()
    # Then queued offline (not pushed): a patch of a synced incident, a delete, a new one.
    offline.mutate("patch", "inc-0", "incidents", {"action_taken": "Segel diganti"})
    offline.mutate("delete", "inc-1", "incidents")
    offline.mutate("create", "inc-new", "incidents", incident(5, severity="tinggi"), warehouse_id=WH)
    await storage.close()

    # The schema as it was at version 6: no warehouse_summary.
    sql_rows("DROP TABLE warehouse_summary")
    sql_rows("DELETE FROM schema_version WHERE version = 7")

    storage = open_storage(database_url, data_dir=tmp_path)
    await storage.open()
    try:
        assert await storage.schema_version() == migrations.load()[-1].version
        assert await storage.warehouse_summaries([WH, OTHER_WH]) == {}
        offline.engine = SyncEngine(storage)
        answer = await offline.push()
        assert [r.status for r in answer.results] == ["applied"] * 3 and not any(
            r.replayed for r in answer.results
        )
        assert [r.replayed for r in (await offline.push()).results] == [True] * 3, "exactly once"
        assert await storage.warehouse_summaries([WH, OTHER_WH]) == {}, (
            "the overview folds them, not the push"
        )
        await assert_summaries_are_folds(storage, [WH])
        assert sql_rows("SELECT count(*) FROM records WHERE deleted") == [(1,)]

        overview = await build_overview(storage, State(), [WH, OTHER_WH], settings=Settings())
        rows = {row.warehouse.id: row for row in overview.warehouses}
        assert rows[WH].open_incidents == {"kritis": 2, "tinggi": 1}
        assert rows[OTHER_WH].open_incidents == {"sedang": 1}
        await assert_summaries_are_folds(storage, [WH, OTHER_WH])  # the overview kept OTHER_WH's
    finally:
        await storage.close()


async def test_migration_9_keys_alert_deliveries_by_warehouse_and_keeps_the_queue(
    database_url: str, sql_rows: Callable[..., list[tuple[object, ...]]], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, storage_backend: str,
) -> None:  # fmt: skip
    """A schema-8 database with a pending delivery and a dead letter: after 0009 both are there as
    they were, the dead letter is replayed, the pending one is claimed and delivered, dispatching
    the same event again makes no second delivery, and the key leads with the warehouse (both
    backends)."""
    bundled = {m: m.load() for m in (migrations, pg_migrations)}
    for module, loaded in bundled.items():
        monkeypatch.setattr(module, "load", lambda loaded=loaded: [m for m in loaded if m.version < 9])
    storage = open_storage(database_url, data_dir=tmp_path)
    await storage.open()
    if storage_backend == "postgres":  # a test database is a copy of a migrated template: undo 0009
        sql_rows(
            "ALTER TABLE alert_deliveries DROP CONSTRAINT alert_deliveries_pkey,"
            " DROP CONSTRAINT alert_deliveries_warehouse_id_channel_target_id_event_id_key,"
            " ADD PRIMARY KEY (id), ADD UNIQUE (channel, target_id, event_id)"
        )
        sql_rows("DROP INDEX alert_deliveries_id")
        sql_rows("DELETE FROM schema_version WHERE version = 9")
    try:
        assert (await storage.schema_version()) == 8 or storage_backend == "postgres"
        assert ("id",) in [tuple(k) for k in _delivery_keys(storage_backend, sql_rows)]
        await storage.raise_events([
            AlertEvent(key=f"incident.created:inc-{n}:1", event="incident.created", warehouse_id=wid,
                       subject=f"incidents/inc-{n}", record={"severity": "kritis"},
                       occurred_at="2026-12-01T00:00:00.000Z")
            for n, wid in enumerate((WH, OTHER_WH))
        ])  # fmt: skip
        events = await storage.undispatched_events(10)
        made = [NewDelivery(event=e, channel="webhook", target_id="hook-1") for e in events]
        await storage.dispatch(events, made, now=100.0)
        claimed = {d.event.warehouse_id: d for d in await storage.claim_deliveries(100.0, 30.0, 10)}
        await storage.delivery_failed(claimed[OTHER_WH], retry_at=None, error="HTTP 500")
        await storage.delivery_failed(claimed[WH], retry_at=100.0, error="HTTP 503")
        before = sorted(
            sql_rows("SELECT id, event_id, warehouse_id, status, attempts, last_error FROM alert_deliveries")
        )
    finally:
        await storage.close()

    for module, loaded in bundled.items():
        monkeypatch.setattr(module, "load", lambda loaded=loaded: loaded)
    storage = open_storage(database_url, data_dir=tmp_path)
    await storage.open()
    try:
        assert await storage.schema_version() == bundled[migrations][-1].version
        after = sorted(
            sql_rows("SELECT id, event_id, warehouse_id, status, attempts, last_error FROM alert_deliveries")
        )
        assert after == before and len(after) == 2
        [dead] = await storage.deliveries("dead")
        assert (dead.id, dead.warehouse_id, dead.last_error) == (claimed[OTHER_WH].id, OTHER_WH, "HTTP 500")
        assert await storage.replay_delivery(dead.id, now=200.0)
        due = {d.event.warehouse_id: d for d in await storage.claim_deliveries(200.0, 30.0, 10)}
        assert set(due) == {WH, OTHER_WH}
        assert all([await storage.delivery_done(d, now=201.0) for d in due.values()])
        await storage.dispatch(events, made, now=300.0)
        assert sql_rows("SELECT count(*) FROM alert_deliveries WHERE status = 'delivered'") == [(2,)]
        assert sql_rows("SELECT count(*) FROM alert_deliveries") == [(2,)], (
            "one delivery per event and target"
        )
    finally:
        await storage.close()


def _delivery_keys(
    storage_backend: str, sql_rows: Callable[..., list[tuple[object, ...]]]
) -> list[tuple[str, ...]]:
    """The primary key and unique keys of alert_deliveries, as the schema rule reads them."""
    shape = shape_of(storage_backend, sql_rows)["alert_deliveries"]
    return [shape[0], *shape[1]]
