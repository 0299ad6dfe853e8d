"""Backups taken while the server writes, restoring one, and retention: tombstones and resolved
conflicts keep their history, and the only purge is an audited admin command."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from server import cli
from server.audit import verify_log
from server.retention import purge_tombstones
from server.storage import Storage
from server.storage.sqlite import SqliteStorage
from sync import digest as digest_mod
from sync.clock import HybridClock
from tests.factories import Factory, bearer
from tests.server.test_faults import REPO, ServerProcess, db_rows, seed
from tests.server.test_sync_api import INCIDENT, Device

SqlRows = Callable[..., list[tuple[object, ...]]]


async def tigapilar(*argv: str) -> tuple[int, str]:
    """The real `tigapilar` command in a subprocess."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.cli", *argv, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return int(proc.returncode or 0), out.decode()


def assert_consistent_copy(db: Path) -> int:
    """A backup is a state the server actually had: integrity, every client's outcomes, last number,
    records and audit entries agree, and the digests describe the records. Returns the record count."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for client_id, last_seq in conn.execute("SELECT client_id, last_seq FROM client_state").fetchall():
            outcomes = conn.execute(
                "SELECT count(*), max(seq) FROM outcomes WHERE client_id = ?", (client_id,)
            ).fetchone()
            assert outcomes == (last_seq, last_seq)
            audited = conn.execute(
                "SELECT count(*) FROM audit_log WHERE kind = 'mutation' AND device = ?", (client_id,)
            ).fetchone()[0]
            assert audited == last_seq
        for warehouse_id, count, checksum in conn.execute(
            "SELECT warehouse_id, count, checksum FROM digests"
        ):
            rows = conn.execute("SELECT id, revision FROM records WHERE warehouse_id = ?", (warehouse_id,))
            assert digest_mod.compute(list(rows)) == digest_mod.Digest(count=count, checksum=checksum)
        return int(conn.execute("SELECT count(*) FROM records").fetchone()[0])
    finally:
        conn.close()


# -- backup under load -------------------------------------------------------------------------------------
@pytest.mark.slow
async def test_backup_while_phones_push_is_a_consistent_copy_that_audit_verify_accepts(
    tmp_path: Path,
) -> None:
    phones, batches, size = 6, 12, 40
    world = await seed(tmp_path / "live.db", devices=phones)
    server = ServerProcess(world.db, tmp_path / "server.log")
    server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:

            async def phone(client_id: str) -> None:
                clock, token = HybridClock(client_id), world.tokens[client_id]
                for b in range(batches):
                    mutations = [
                        {"seq": b * size + i + 1, "id": f"{client_id}-{b}-{i}", "collection": "incidents",
                         "op": "create", "warehouse_id": world.warehouse, "fields": INCIDENT,
                         "hlc": clock.now()}
                        for i in range(size)
                    ]  # fmt: skip
                    body = {
                        "protocol": 1,
                        "client_id": client_id,
                        "schema_version": 2,
                        "mutations": mutations,
                    }
                    response = await http.post("/api/sync/push", json=body, headers=bearer(token))
                    assert response.status_code == 200, response.text

            load = asyncio.gather(*(phone(c) for c in world.tokens))
            backups = []
            for n in range(2):
                await asyncio.sleep(0.3)
                target = tmp_path / "backups" / f"copy-{n}.db"
                status, out = await tigapilar("backup", str(target), "--database", server.database)
                assert status == 0, out
                backups.append(target)
            await load
        final = db_rows(world.db, "SELECT count(*) FROM records")[0][0]
        assert final == phones * batches * size
        for target in backups:
            assert 0 <= assert_consistent_copy(target) <= final
            status, out = await tigapilar("audit", "verify", "--database", f"sqlite:///{target}")
            assert status == 0 and "audit log intact" in out, out
    finally:
        server.stop()


# -- restore -----------------------------------------------------------------------------------------------
@pytest.fixture
async def backup(tmp_path: Path) -> Path:
    """A backup of a database with a few records and a valid audit chain."""
    world = await seed(tmp_path / "source.db", devices=1)
    storage = SqliteStorage(world.db)
    await storage.open()
    try:
        from server.auth import audit_entry

        for n in range(3):
            await storage.append_audit(audit_entry("test.entry", actor_id="u", subject=str(n)))
        await storage.backup(tmp_path / "backup.db")
    finally:
        await storage.close()
    return tmp_path / "backup.db"


def run_cli(*argv: str) -> int:
    return cli.main(list(argv))


def test_restore_puts_a_checked_backup_in_place_and_records_it(
    backup: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "restored" / "tigapilar.db"
    url = f"sqlite:///{target}"
    assert run_cli("restore", str(backup), "--database", url) == 0
    assert "audit log intact up to entry 3" in capsys.readouterr().out
    assert db_rows(target, "PRAGMA integrity_check") == [("ok",)]
    assert db_rows(target, "SELECT count(*) FROM warehouses") == db_rows(
        backup, "SELECT count(*) FROM warehouses"
    )
    kind, content = db_rows(target, "SELECT kind, content FROM audit_log ORDER BY id DESC LIMIT 1")[0]
    assert kind == "admin.restored" and db_rows(backup, "SELECT hash FROM audit_log WHERE id = 3")[0][
        0
    ] in json.dumps(json.loads(content)["detail"])
    assert run_cli("audit", "verify", "--database", url) == 0
    assert not list(target.parent.glob(".*restoring*"))  # the scratch copy is gone


def test_restore_refuses_to_overwrite_without_force_and_a_database_in_use(
    backup: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "current.db"
    url = f"sqlite:///{target}"
    assert run_cli("migrate", "--database", url) == 0
    before = target.read_bytes()
    capsys.readouterr()
    assert run_cli("restore", str(backup), "--database", url) == 1
    assert "pass --force" in capsys.readouterr().err
    holder = sqlite3.connect(target)  # a running server keeps the database open
    try:
        holder.execute("SELECT count(*) FROM records").fetchall()
        assert run_cli("restore", str(backup), "--database", url, "--force") == 1
        assert "in use" in capsys.readouterr().err
    finally:
        holder.close()
    assert target.read_bytes() == before
    assert run_cli("restore", str(backup), "--database", url, "--force") == 0
    assert db_rows(target, "SELECT count(*) FROM users") == db_rows(backup, "SELECT count(*) FROM users")


@pytest.mark.parametrize("damage", ["not_a_database", "broken_audit_chain"])
def test_restore_refuses_a_damaged_backup_and_leaves_the_database_alone(
    damage: str, backup: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if damage == "not_a_database":
        backup.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    else:
        conn = sqlite3.connect(backup)
        conn.execute("UPDATE audit_log SET subject = 'diubah' WHERE id = 2")
        conn.commit()
        conn.close()
    target = tmp_path / "current.db"
    url = f"sqlite:///{target}"
    assert run_cli("migrate", "--database", url) == 0
    before = db_rows(target, "SELECT count(*), max(hash) FROM audit_log")
    capsys.readouterr()
    assert run_cli("restore", str(backup), "--database", url, "--force") == 1
    err = capsys.readouterr()
    assert ("BROKEN at entry 2" if damage == "broken_audit_chain" else "error:") in err.err + err.out
    assert db_rows(target, "SELECT count(*), max(hash) FROM audit_log") == before
    assert not list(tmp_path.glob(".*restoring*"))


# -- retention ---------------------------------------------------------------------------------------------
@pytest.fixture
async def history(client: httpx.AsyncClient, factory: Factory) -> dict[str, Any]:
    """Two incidents deleted (tombstones), one kept, and a conflict resolved by a supervisor."""
    wh = await factory.warehouse()
    officer = await factory.user(warehouses=[wh])
    supervisor = await factory.user(role="supervisor", warehouses=[wh])
    sari = Device(client, await factory.token(officer, client_id="dev-sari-ret1"), "dev-sari-ret1")
    hendra = Device(client, await factory.token(supervisor, client_id="dev-hendra-r1"), "dev-hendra-r1")
    created = await sari.push(
        [sari.mutation("create", f"inc-{n}", warehouse_id=wh.id, fields=INCIDENT) for n in range(3)]
    )
    revs = [r["revision"] for r in created.json()["results"]]
    await hendra.push([hendra.mutation("patch", "inc-2", base_rev=revs[2], fields={"severity": "tinggi"})])
    clash = await sari.push(
        [
            sari.mutation("patch", "inc-2", base_rev=revs[2], fields={"severity": "kritis"}),
            sari.mutation("delete", "inc-0", base_rev=revs[0]),
            sari.mutation("delete", "inc-1", base_rev=revs[1]),
        ]
    )
    [conflict_id] = clash.json()["results"][0]["conflicts"]
    pulled = await hendra.pull()
    conflict = next(c for c in pulled["changes"] if c["id"] == conflict_id)
    resolved = await hendra.push(
        [
            hendra.mutation(
                "resolve", conflict_id, "conflicts", base_rev=conflict["revision"], fields={"value": "kritis"}
            )
        ]
    )
    assert resolved.json()["results"][0]["status"] == "applied"
    return {"wh": wh.id, "sari": sari, "hendra": hendra, "conflict": conflict_id}


# These run on both backends: they read and age rows through `sql_rows` (SQLite or PostgreSQL).
OLD = "2020-01-01T00:00:00.000Z"  # an updated_at far older than any --older-than cut-off


def tombstones(sql_rows: SqlRows) -> list[str]:
    return [str(r[0]) for r in sql_rows("SELECT id FROM records WHERE deleted ORDER BY id")]


def purge_entries(sql_rows: SqlRows) -> int:
    return int(sql_rows("SELECT count(*) FROM audit_log WHERE kind = 'admin.tombstones_purged'")[0][0])


def stored_digest(sql_rows: SqlRows, warehouse_id: str) -> digest_mod.Digest:
    [(count, checksum)] = sql_rows("SELECT count, checksum FROM digests WHERE warehouse_id = ?", warehouse_id)
    return digest_mod.Digest(count=int(count), checksum=str(checksum))


def computed_digest(sql_rows: SqlRows, warehouse_id: str) -> digest_mod.Digest:
    rows = sql_rows("SELECT id, revision FROM records WHERE warehouse_id = ?", warehouse_id)
    return digest_mod.compute([(str(rid), int(rev)) for rid, rev in rows])


async def test_tombstones_keep_their_fields_and_resolved_conflicts_keep_both_values(
    history: dict[str, Any],
) -> None:
    changes = {c["id"]: c for c in (await history["sari"].pull())["changes"]}
    for rid in ("inc-0", "inc-1"):
        assert changes[rid]["deleted"] is True
        assert changes[rid]["fields"]["description"] == INCIDENT["description"]
        assert changes[rid]["fields"]["category"] == INCIDENT["category"]
    conflict = changes[history["conflict"]]["fields"]
    assert conflict["status"] == "resolved" and conflict["resolution"] == "kritis"
    assert (conflict["server_value"], conflict["client_value"]) == ("tinggi", "kritis")
    assert conflict["resolved_by"] and conflict["server_by"] and conflict["client_by"]


async def test_purge_needs_yes_and_only_an_admin_command_purges(
    history: dict[str, Any], database_url: str, sql_rows: SqlRows, capsys: pytest.CaptureFixture[str]
) -> None:
    sql_rows("UPDATE records SET updated_at = ? WHERE id = ?", OLD, "inc-0")  # old enough to purge
    assert (
        await asyncio.to_thread(run_cli, "purge-tombstones", "--older-than", "30", "--database", database_url)
        == 1
    )
    assert "add --yes" in capsys.readouterr().err
    assert tombstones(sql_rows) == ["inc-0", "inc-1"]  # nothing purged without --yes
    assert purge_entries(sql_rows) == 0
    assert sql_rows("SELECT max(tombstone_horizon) FROM warehouse_state") == [(0,)]


async def test_purging_old_tombstones_is_audited_and_resets_old_cursors(
    history: dict[str, Any], storage: Storage, database_url: str, sql_rows: SqlRows
) -> None:
    sari: Device = history["sari"]
    wh = history["wh"]
    old_cursor = (await sari.pull())["cursors"][wh]
    tombs = sql_rows("SELECT id, revision FROM records WHERE deleted")
    tomb_revs = {str(rid): int(rev) for rid, rev in tombs}
    assert sorted(tomb_revs) == ["inc-0", "inc-1"]
    # inc-0's tombstone is old; inc-1's is recent and stays.
    sql_rows("UPDATE records SET updated_at = ? WHERE id = ?", OLD, "inc-0")
    before = sql_rows("SELECT count(*) FROM records")[0][0]
    digest_before = stored_digest(sql_rows, wh)
    assert digest_before == computed_digest(sql_rows, wh)

    status = await asyncio.to_thread(
        run_cli, "purge-tombstones", "--older-than", "30", "--yes", "--database", database_url
    )
    assert status == 0
    assert sql_rows("SELECT id FROM records WHERE id = ?", "inc-0") == []
    assert [bool(d) for (d,) in sql_rows("SELECT deleted FROM records WHERE id = ?", "inc-1")] == [True]
    assert tombstones(sql_rows) == ["inc-1"]
    assert sql_rows("SELECT count(*) FROM records")[0][0] == before - 1
    assert sql_rows("SELECT count(*) FROM records WHERE collection = 'conflicts'") == [(1,)]  # kept
    horizon = int(sql_rows("SELECT tombstone_horizon FROM warehouse_state WHERE warehouse_id = ?", wh)[0][0])
    assert horizon == tomb_revs["inc-0"]
    # Only the purged warehouse's horizon moved: the others' cursors stay valid.
    assert sql_rows("SELECT count(*) FROM warehouse_state WHERE tombstone_horizon > 0") == [(1,)]
    # One entry in the warehouse's chain, one summing the purge up in the system chain.
    chain = [row.entry async for row in storage.audit_rows(wh)]
    assert chain[-1].kind == "admin.tombstones_purged" and chain[-1].detail["ids"] == ["inc-0"]
    assert chain[-1].detail["horizons"] == {wh: horizon}
    last = [row.entry async for row in storage.audit_rows("")][-1]
    assert last.kind == "admin.tombstones_purged" and last.detail["ids"] == ["inc-0"]
    assert last.actor_id.startswith("cli") and last.detail["horizons"] == {wh: horizon}
    assert purge_entries(sql_rows) == 2  # the warehouse's and the system's
    assert (await verify_log(storage)).ok
    # The digest was recomputed: it still describes what the server holds, one record fewer.
    digest_now = stored_digest(sql_rows, wh)
    assert digest_now == computed_digest(sql_rows, wh)
    assert digest_now.count == digest_before.count - 1 and digest_now != digest_before

    # A phone whose cursor is older than the horizon may still hold the purged record: reset.
    stale = await sari.pull({wh: horizon - 1})
    assert stale["reset"] == [wh]
    assert "inc-0" not in {c["id"] for c in stale["changes"]}
    assert stale["digests"][wh] == {"count": digest_now.count, "checksum": digest_now.checksum}
    fresh = await sari.pull({wh: old_cursor})
    assert fresh["reset"] == [] and fresh["changes"] == []


async def test_purge_with_nothing_old_still_records_itself(
    history: dict[str, Any], storage: Storage, sql_rows: SqlRows
) -> None:
    digest_before = stored_digest(sql_rows, history["wh"])
    report = await purge_tombstones(storage, older_than_days=30, actor_id="cli:test")
    assert report.purged == [] and report.horizons == {}
    last = [row.entry async for row in storage.audit_rows("")][-1]
    assert last.kind == "admin.tombstones_purged" and last.detail["ids"] == []
    assert tombstones(sql_rows) == ["inc-0", "inc-1"]
    assert sql_rows("SELECT max(tombstone_horizon) FROM warehouse_state") == [(0,)]
    assert stored_digest(sql_rows, history["wh"]) == digest_before
    assert (await verify_log(storage)).ok


@pytest.mark.parametrize(
    "argv", [["restore"], ["purge-tombstones"], ["audit", "keygen"], ["audit", "checkpoint"]], ids=" ".join
)
def test_the_new_commands_have_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main([*argv, "--help"])
    assert exited.value.code == 0 and "usage: tigapilar" in capsys.readouterr().out
