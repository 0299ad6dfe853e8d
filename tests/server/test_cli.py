"""The tigapilar command, run in-process through main([...])."""

from __future__ import annotations

import asyncio
import io
import sqlite3
from pathlib import Path

import pytest

from server import cli
from server.models import User
from server.seed import load_templates
from server.storage.sqlite import SqliteStorage, migrations
from tests.factories import FAST_PASSWORDS

COMMANDS = [
    [],
    ["serve"],
    ["migrate"],
    ["seed-demo"],
    ["user"],
    ["user", "add"],
    ["user", "passwd"],
    ["user", "disable"],
    ["user", "enable"],
    ["user", "assign"],
    ["user", "list"],
    ["backup"],
    ["audit"],
    ["audit", "verify"],
    ["audit", "head"],
]


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cli.db"


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_passwords", lambda: FAST_PASSWORDS)


def run(*argv: str, stdin: str | None = None, monkeypatch: pytest.MonkeyPatch | None = None) -> int:
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return cli.main(list(argv))


def load_user(tmp_path: Path, username: str) -> tuple[User, str] | None:
    async def read() -> tuple[User, str] | None:
        storage = SqliteStorage(tmp_path / "cli.db")
        await storage.open(create=False)
        try:
            return await storage.user_by_username(username)
        finally:
            await storage.close()

    return asyncio.run(read())


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a) or "tigapilar")
def test_every_command_has_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main([*argv, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: tigapilar")
    if (argv and argv[0] not in ("user", "audit")) or len(argv) > 1:
        assert "--database" in out


def test_migrate_creates_the_database_and_is_idempotent(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    latest = migrations.load()[-1].version
    assert run("migrate", "--database", db) == 0
    first = capsys.readouterr().out
    assert f"schema version {latest}" in first and "template gudang_logistik-v1" in first
    assert run("migrate", "--database", db) == 0
    second = capsys.readouterr().out
    assert f"schema version {latest}" in second and "added" not in second
    assert (tmp_path / "cli.db").exists()


def test_the_database_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TIGAPILAR_DATABASE", f"sqlite:///{tmp_path}/env.db")
    assert run("migrate") == 0
    assert (tmp_path / "env.db").exists()


def test_an_unusable_database_url_is_a_clean_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("migrate", "--database", "mysql://localhost/tigapilar") == 1
    assert capsys.readouterr().err.startswith("error: unsupported database URL")


def test_commands_other_than_migrate_need_an_existing_database(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("user", "list", "--database", db) == 1
    assert "database not found" in capsys.readouterr().err
    assert not (tmp_path / "cli.db").exists()


def test_user_lifecycle(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("migrate", "--database", db) == 0
    assert (
        run(
            "user",
            "add",
            "slamet",
            "--full-name",
            "Slamet Riyadi",
            "--agency",
            "POLRI",
            "--rank",
            "Aipda",
            "--id-number",
            "79050321",
            "--password-stdin",
            "--database",
            db,
            stdin="sandi-pertama-kali\n",
            monkeypatch=monkeypatch,
        )
        == 0
    )
    found = load_user(tmp_path, "slamet")
    assert found is not None
    user, first_hash = found
    assert (user.full_name, user.agency, user.rank, user.role, user.disabled) == (
        "Slamet Riyadi",
        "POLRI",
        "Aipda",
        "officer",
        False,
    )
    assert FAST_PASSWORDS.verify_sync(first_hash, "sandi-pertama-kali")

    assert (
        run(
            "user",
            "add",
            "slamet",
            "--full-name",
            "X",
            "--agency",
            "TNI",
            "--password-stdin",
            "--database",
            db,
            stdin="sandi-kedua-kalinya\n",
            monkeypatch=monkeypatch,
        )
        == 1
    )
    assert "already taken" in capsys.readouterr().err

    assert (
        run(
            "user",
            "passwd",
            "slamet",
            "--password-stdin",
            "--database",
            db,
            stdin="sandi-kedua-kalinya\n",
            monkeypatch=monkeypatch,
        )
        == 0
    )
    found = load_user(tmp_path, "slamet")
    assert found is not None and FAST_PASSWORDS.verify_sync(found[1], "sandi-kedua-kalinya")

    assert run("user", "disable", "slamet", "--database", db) == 0
    assert load_user(tmp_path, "slamet")[0].disabled  # type: ignore[index]
    assert run("user", "enable", "slamet", "--database", db) == 0
    assert not load_user(tmp_path, "slamet")[0].disabled  # type: ignore[index]

    capsys.readouterr()
    assert run("user", "list", "--database", db) == 0
    listing = capsys.readouterr().out
    assert "slamet" in listing and "Slamet Riyadi" in listing and "active" in listing

    assert run("audit", "verify", "--database", db) == 0
    assert "intact: 4 entries" in capsys.readouterr().out  # created, password, disabled, enabled


def test_user_add_validates_its_input(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("migrate", "--database", db) == 0
    args = ["user", "add", "joko", "--full-name", "Joko", "--agency", "TNI", "--database", db]
    assert run(*args, "--password-stdin", stdin="pendek\n", monkeypatch=monkeypatch) == 1
    assert "at least 12" in capsys.readouterr().err
    assert run(*args, "--password-stdin", stdin="1QAZ2WSX3EDC\n", monkeypatch=monkeypatch) == 1
    assert "10,000 most common" in capsys.readouterr().err
    assert (
        run(
            *args,
            "--password-stdin",
            "--warehouse",
            "gd-tidak-ada",
            stdin="cukup-panjang-sandinya\n",
            monkeypatch=monkeypatch,
        )
        == 1
    )
    assert "unknown warehouse" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert run(*args) == 1  # no terminal to prompt on
    assert "--password-stdin" in capsys.readouterr().err
    assert (
        run(
            "user",
            "add",
            "Bad Name!",
            "--full-name",
            "x",
            "--agency",
            "TNI",
            "--password-stdin",
            "--database",
            db,
            stdin="cukup-panjang-sandinya\n",
            monkeypatch=monkeypatch,
        )
        == 1
    )
    assert run("user", "disable", "nobody", "--database", db) == 1
    assert "no user" in capsys.readouterr().err


def test_backup_produces_a_valid_copy(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("migrate", "--database", db) == 0
    target = tmp_path / "backups" / "copy.db"
    assert run("backup", str(target), "--database", db) == 0
    conn = sqlite3.connect(target)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM templates").fetchone()[0] == len(load_templates())
        assert (
            conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
            == migrations.load()[-1].version
        )
    finally:
        conn.close()
    assert run("backup", str(target), "--database", db) == 1
    assert "already exists" in capsys.readouterr().err


async def test_backup_is_consistent_while_the_server_writes(tmp_path: Path) -> None:
    storage = SqliteStorage(tmp_path / "live.db")
    await storage.open()
    try:
        from sync.store import AuditEntry

        async def writer() -> None:
            for i in range(200):
                await storage.append_audit(
                    AuditEntry(
                        at="t",
                        kind="k",
                        actor_id="a",
                        actor_agency="POLRI",
                        device="d",
                        warehouse_id=None,
                        subject=str(i),
                        detail={},
                    )
                )

        task = asyncio.create_task(writer())
        await asyncio.sleep(0.01)
        await storage.backup(tmp_path / "snapshot.db")
        await task
    finally:
        await storage.close()
    snapshot = SqliteStorage(tmp_path / "snapshot.db")
    await snapshot.open(create=False)
    try:
        from server.audit import verify_log

        report = await verify_log(snapshot)
        assert report.ok and 0 <= report.count <= 200
    finally:
        await snapshot.close()


def _tamper(tmp_path: Path, sql: str) -> None:
    conn = sqlite3.connect(tmp_path / "cli.db")
    try:
        conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("UPDATE audit_log SET actor_id = 'u-mallory' WHERE id = 2", "columns differ"),
        ("UPDATE audit_log SET content = CAST('{}' AS BLOB) WHERE id = 2", "hash chain broken"),
        ("DELETE FROM audit_log WHERE id = 2", "hash chain broken"),
    ],
)
def test_audit_verify_finds_the_first_broken_entry(
    sql: str,
    reason: str,
    db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run("migrate", "--database", db) == 0
    for name in ("satu", "dua", "tiga"):
        assert (
            run(
                "user",
                "add",
                name,
                "--full-name",
                name,
                "--agency",
                "FKDM",
                "--password-stdin",
                "--database",
                db,
                stdin="cukup-panjang-sandinya\n",
                monkeypatch=monkeypatch,
            )
            == 0
        )
    assert run("audit", "verify", "--database", db) == 0
    capsys.readouterr()
    assert run("audit", "head", "--database", db) == 0
    assert capsys.readouterr().out.startswith("3 ")
    _tamper(tmp_path, sql)
    assert run("audit", "verify", "--database", db) == 1
    out = capsys.readouterr().out
    broken = 3 if sql.startswith("DELETE") else 2
    assert f"BROKEN at entry {broken}" in out and reason in out


def test_seed_demo_is_idempotent(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import server.seed.demo as demo

    monkeypatch.setattr(demo, "Passwords", lambda: FAST_PASSWORDS)
    assert run("seed-demo", "--database", db) == 0
    first = capsys.readouterr().out
    assert "Demo data added" in first and f"password for all: {demo.DEMO_PASSWORD}" in first
    assert "hendra" in first and "Iptu Hendra Gunawan" in first
    conn = sqlite3.connect(tmp_path / "cli.db")
    try:
        counts = conn.execute("SELECT count(*), max(revision) FROM records").fetchone()
        audit = conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    finally:
        conn.close()
    assert run("seed-demo", "--database", db) == 0
    assert "already present" in capsys.readouterr().out
    conn = sqlite3.connect(tmp_path / "cli.db")
    try:
        assert conn.execute("SELECT count(*), max(revision) FROM records").fetchone() == counts
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] == audit
    finally:
        conn.close()
    assert run("audit", "verify", "--database", db) == 0
