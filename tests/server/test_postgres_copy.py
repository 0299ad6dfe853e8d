"""The SQLite -> PostgreSQL copy tool (server/storage/copy.py, `tigapilar copy-to-postgres`).

A kecamatan's SQLite database (the demo story plus devices, tombstones, rejected mutations and
non-ASCII text) is copied; then every table must hold the same values, the audit chain must verify
with the same head, and the sync engine must carry on where the kecamatan server stopped: the same
pull answer for the same cursors, replays of old mutation numbers answered from the copied outcomes,
the next number applied at the next revision, device tokens still valid.

Skipped, with the reason, unless TIGAPILAR_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest

from server.audit import verify_log
from server.models import Device, now_iso
from server.seed.demo import seed_demo
from server.storage.copy import CopyError, copy_sqlite_to_postgres
from server.storage.postgres import PostgresStorage
from server.storage.postgres.testing import session_databases, with_database
from server.storage.sqlite import SqliteStorage
from sync.audit import GENESIS
from sync.clock import format_hlc
from sync.domain import Actor
from sync.engine import SyncEngine
from sync.messages import Mutation, PullRequest, PullResponse, PushRequest
from sync.store import AuditEntry
from tests.factories import FAST_PASSWORDS

REPO = Path(__file__).resolve().parents[2]
JB = "gd-johar-baru"


def officer(username: str, user_id: str, client_id: str) -> Actor:
    return Actor(user_id=user_id, username=username, role="officer", agency="POLRI",
                 warehouses=frozenset({JB}), client_id=client_id)  # fmt: skip


def mutation(client_id: str, seq: int, record_id: str, op: str = "create", base_rev: int = 0,
             **fields: object) -> Mutation:  # fmt: skip
    return Mutation(seq=seq, id=record_id, collection="incidents", op=op, base_rev=base_rev,  # type: ignore[arg-type]
                    warehouse_id=JB if op == "create" else None, fields=dict(fields),
                    hlc=format_hlc(1_764_000_000_000 + seq, 0, client_id))  # fmt: skip


def push(client_id: str, mutations: list[Mutation]) -> PushRequest:
    return PushRequest(protocol=1, client_id=client_id, schema_version=2, mutations=mutations)


async def kecamatan(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A SQLite deployment with some of everything; returns its path and a few facts about it."""
    directory = tmp_path / "kecamatan"
    storage = SqliteStorage(directory / "tigapilar.db")
    await storage.open()
    try:
        await seed_demo(storage, today=date(2026, 11, 20), passwords=FAST_PASSWORDS)
        found = await storage.user_by_username("slamet")
        assert found is not None
        slamet = found[0]
        client = "client-slamet-hp"
        await storage.create_device(
            Device(id="dev-1", user_id=slamet.id, name="HP Slamet — Redmi", client_id=client,
                   created_at=now_iso(), last_seen=now_iso(), expires_at="2099-01-01T00:00:00.000Z"),
            "token-hash-slamet",
        )  # fmt: skip
        engine = SyncEngine(storage)
        who = officer("slamet", slamet.id, client)
        pushed = await engine.push(who, push(client, [
            mutation(client, 1, "inc-x", category="kebocoran_banjir", severity="sedang",
                     description="Atap bocor — air masuk ke rak \u201csurat suara\u201d \U0001f327"),
            mutation(client, 2, "inc-x", "delete", base_rev=0),
            mutation(client, 3, "inc-y", category="bukan_kategori", severity="rendah", description="x"),
        ]))  # fmt: skip
        assert [r.status for r in pushed.results][2] == "rejected"
        await storage.append_audit(AuditEntry(at=now_iso(), kind="auth.login", actor_id=slamet.id,
                                              actor_agency="POLRI", device=client, warehouse_id=None,
                                              subject=slamet.id, detail={"ip": "10.0.0.7"}))  # fmt: skip
        await storage.record_login_failure("user:slamet", now=4e9, limit=1, window_s=600, lockout_s=30,
                                           max_lockout_s=3600)  # fmt: skip
        facts = {"client": client, "actor": who, "pushed": pushed}
    finally:
        await storage.close()
    return directory / "tigapilar.db", facts


def sqlite_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return [tuple(r) for r in conn.execute(sql)]
    finally:
        conn.close()


async def pg_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


@pytest.fixture
async def empty_url(postgres_url: str, tmp_path: Path) -> Any:
    """A database that does not exist yet (the copy creates it), dropped after the test."""
    databases = session_databases()
    assert databases is not None
    url = with_database(postgres_url, databases.name_for(tmp_path / "copy-target"))
    yield url
    await databases.drop(url)


async def test_the_copy_preserves_everything_and_sync_carries_on(tmp_path: Path, empty_url: str) -> None:
    source, facts = await kecamatan(tmp_path)
    report = await copy_sqlite_to_postgres(f"sqlite:///{source}", empty_url, data_dir=tmp_path / "pgdata")
    assert not report.source_changed
    assert report.files_copied == len(sqlite_rows(source, "SELECT sha256 FROM attachments")) > 0
    assert {t.name for t in report.tables} >= {"records", "outcomes", "audit_log", "devices", "digests"}
    # Failed-login throttling is transient: not copied.
    assert "login_failures" not in {t.name for t in report.tables}
    assert sqlite_rows(source, "SELECT count(*) FROM login_failures") == [(1,)]
    assert await pg_rows(empty_url, "SELECT count(*) FROM login_failures") == [(0,)]

    # Byte for byte, independently of the tool's own check.
    for sql in (
        "SELECT chain, id, content, prev_hash, hash, kind, subject FROM audit_log ORDER BY chain, id",
        "SELECT client_id, seq, result, mutation, status, revision FROM outcomes ORDER BY client_id, seq",
        "SELECT id, revision, fields, field_revs, field_hlcs, field_by, created_at FROM records ORDER BY id",
        "SELECT warehouse_id, count, checksum FROM digests ORDER BY warehouse_id",
        "SELECT warehouse_id, revision, tombstone_horizon, audit_id, audit_hash FROM warehouse_state",
        "SELECT client_id, user_id, last_seq FROM client_state ORDER BY client_id",
        "SELECT id, username, password_hash FROM users ORDER BY id",
        "SELECT id, token_hash, name FROM devices ORDER BY id",
        "SELECT sha256, size, mime, path FROM attachments ORDER BY sha256",
    ):
        expected = sorted(sqlite_rows(source, sql), key=repr)
        stored = sorted(await pg_rows(empty_url, sql), key=repr)
        assert stored == expected, sql
    deleted = await pg_rows(empty_url, "SELECT deleted FROM records WHERE id = 'inc-x'")
    assert deleted == [(True,)]

    lite = SqliteStorage(source)
    pg = PostgresStorage(empty_url, data_dir=tmp_path / "pgdata")
    await lite.open()
    await pg.open(create=False)
    try:
        audit = await verify_log(pg)
        assert audit.ok and audit.head == (await lite.audit_head() or (0, GENESIS))[1]
        assert await pg.audit_head() == await lite.audit_head()
        assert await pg.device_by_token("token-hash-slamet") == await lite.device_by_token(
            "token-hash-slamet"
        )
        assert await pg.users() == await lite.users()
        assert await pg.warehouses() == await lite.warehouses()
        assert await pg.stock_item_types() == await lite.stock_item_types()
        assert (tmp_path / "pgdata" / (await pg.attachment(report_sha(source)) or _no()).path).is_file()

        who: Actor = facts["actor"]
        client = facts["client"]
        old, new = SyncEngine(lite), SyncEngine(pg)
        # The same pull, the same answer (cursors, digests, reflected_seq).
        for cursors in ({}, {JB: 5}, {JB: 10_000}):
            request = PullRequest(protocol=1, client_id=client, cursors=cursors, limit=20)
            a, b = await old.pull(who, request), await new.pull(who, request)

            def timeless(r: PullResponse) -> PullResponse:
                return msgspec.structs.replace(r, server_hlc="", server_time_ms=0)

            assert timeless(a) == timeless(b)
        # A retry of old numbers is answered from the copied outcomes.
        retry = push(client, [mutation(client, 2, "inc-x", "delete"), mutation(client, 3, "inc-y")])
        replayed = await new.push(who, retry)
        assert all(r.replayed for r in replayed.results)
        assert [r.status for r in replayed.results] == [r.status for r in facts["pushed"].results[1:]]
        # The next number is applied at the next revision; the audit chain continues.
        top = await lite.latest_revision()
        cctv = mutation(client, 4, "inc-z", category="cctv_mati", severity="rendah", description="CCTV mati")
        nxt = await new.push(who, push(client, [cctv]))
        assert nxt.results[0].status == "applied" and nxt.results[0].revision == top + 1
        head = await lite.audit_head()
        assert head is not None
        logout = AuditEntry(at=now_iso(), kind="auth.logout", actor_id="x", actor_agency="TNI",
                            device="d", warehouse_id=None, subject="x", detail={})  # fmt: skip
        new_id = await pg.append_audit(logout)
        assert new_id > head[0]
        assert (await verify_log(pg)).ok
    finally:
        await lite.close()
        await pg.close()


def report_sha(source: Path) -> str:
    return str(sqlite_rows(source, "SELECT sha256 FROM attachments ORDER BY sha256")[0][0])


def _no() -> Any:
    raise AssertionError("attachment metadata missing")


async def test_the_copy_refuses_a_target_holding_data_and_an_older_source(
    tmp_path: Path, empty_url: str
) -> None:
    source, _ = await kecamatan(tmp_path)
    await copy_sqlite_to_postgres(f"sqlite:///{source}", empty_url)
    before = await pg_rows(empty_url, "SELECT count(*) FROM audit_log")
    with pytest.raises(CopyError, match="already holds data"):
        await copy_sqlite_to_postgres(f"sqlite:///{source}", empty_url)
    assert await pg_rows(empty_url, "SELECT count(*) FROM audit_log") == before

    conn = sqlite3.connect(source)
    conn.execute("DELETE FROM schema_version")
    conn.commit()
    conn.close()
    with pytest.raises(CopyError, match="tigapilar migrate"):
        await copy_sqlite_to_postgres(f"sqlite:///{source}", empty_url)
    with pytest.raises(CopyError, match="not found"):
        await copy_sqlite_to_postgres(f"sqlite:///{tmp_path}/nope.db", empty_url)


async def test_the_cli_copies_and_the_copy_verifies(tmp_path: Path, empty_url: str) -> None:
    source, _ = await kecamatan(tmp_path)

    async def cli(*args: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.cli", *args, cwd=REPO,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await process.communicate()
        return process.returncode or 0, out.decode()

    code, out = await cli(
        "copy-to-postgres", f"sqlite:///{source}", empty_url, "--data-dir", str(tmp_path / "d")
    )
    assert code == 0, out
    assert "audit log of the copy intact" in out
    code, out = await cli("audit", "verify", "--database", empty_url)
    assert code == 0 and "audit log intact" in out, out
    code, out = await cli("migrate", "--database", empty_url)
    assert code == 0 and "schema version" in out, out
    code, out = await cli("copy-to-postgres", f"sqlite:///{source}", empty_url)
    assert code == 1 and "already holds data" in out, out
