"""The tamper-evident audit log: what goes into it, and that `tigapilar audit verify` finds any change,
removal or reordering of an entry made behind the server's back (sqlite3 on the file)."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from server import cli
from server.audit import verify_log
from server.storage import Storage
from server.storage.sqlite import SqliteStorage
from sync.audit import GENESIS, chain, content_of
from sync.store import AuditEntry, BatchEffects
from tests.factories import PASSWORD, Factory, bearer, every_audit_row
from tests.server.test_sync_api import INCIDENT, Device


def entry(n: int, kind: str = "test.entry") -> AuditEntry:
    return AuditEntry(
        at=f"2026-11-28T00:00:{n % 60:02d}.000Z",
        kind=kind,
        actor_id="u-test",
        actor_agency="POLRI",
        device="d",
        warehouse_id=None,
        subject=f"s{n}",
        detail={"n": n},
    )


async def kinds(storage: SqliteStorage) -> list[str]:
    return [row.entry.kind for row in await every_audit_row(storage)]


def run_cli(*argv: str) -> int:
    return cli.main(list(argv))


# -- what is recorded -------------------------------------------------------------------------------
async def test_logins_revocations_admin_actions_mutations_and_resolutions_are_all_chained(
    client: httpx.AsyncClient, factory: Factory, storage: SqliteStorage
) -> None:
    await factory.reference_data()
    wh = await factory.warehouse()
    officer = await factory.user(username="sari", warehouses=[wh])
    other = await factory.user(username="joko", warehouses=[wh], agency="TNI")
    supervisor = await factory.user(username="hendra", role="supervisor", warehouses=[wh])
    admin = await factory.user(username="admin1", role="admin")

    async def login(username: str, client_id: str, password: str = PASSWORD) -> httpx.Response:
        body = {"username": username, "password": password, "device_name": "HP", "client_id": client_id}
        return await client.post("/api/auth/login", json=body)

    assert (await login("sari", "dev-sari-0001", "salah-sandi")).status_code == 401
    assert (await login("sari", "dev-sari-0001")).status_code == 200
    assert (await login("joko", "dev-sari-0001")).status_code == 409  # another user's phone: refused
    tokens = {}
    for user, cid in (("sari", "dev-sari-0001"), ("joko", "dev-joko-0001"), ("hendra", "dev-hendra-01")):
        response = await login(user, cid)
        assert response.status_code == 200, response.text
        tokens[user] = response.json()["token"]
    admin_token = await factory.token(admin)
    sari = Device(client, tokens["sari"], "dev-sari-0001")
    joko = Device(client, tokens["joko"], "dev-joko-0001")
    hendra = Device(client, tokens["hendra"], "dev-hendra-01")

    # Two officers edit a flagged field concurrently: a conflict, which the supervisor resolves.
    created = (
        await sari.push([sari.mutation("create", "inc-1", warehouse_id=wh.id, fields=INCIDENT)])
    ).json()
    base = created["results"][0]["revision"]
    await sari.push([sari.mutation("patch", "inc-1", base_rev=base, fields={"severity": "tinggi"})])
    clash = (
        await joko.push([joko.mutation("patch", "inc-1", base_rev=base, fields={"severity": "kritis"})])
    ).json()
    [conflict_id] = clash["results"][0]["conflicts"]
    pulled = await hendra.pull()
    conflict = next(c for c in pulled["changes"] if c["id"] == conflict_id)
    resolved = await hendra.push(
        [
            hendra.mutation(
                "resolve", conflict_id, "conflicts", base_rev=conflict["revision"], fields={"value": "kritis"}
            )
        ]
    )
    assert resolved.json()["results"][0]["status"] == "applied", resolved.text

    # Admin actions: create, change and revoke.
    made = await client.post(
        "/api/admin/users",
        headers=bearer(admin_token),
        json={
            "username": "budi",
            "full_name": "Budi",
            "agency": "FKDM",
            "warehouses": [wh.id],
            "password": "x" * 12,
        },
    )
    assert made.status_code == 201, made.text
    changed = await client.patch(
        f"/api/admin/users/{other.id}", headers=bearer(admin_token), json={"disabled": True}
    )
    assert changed.status_code == 200, changed.text
    devices = (await client.get(f"/api/admin/users/{officer.id}/devices", headers=bearer(admin_token))).json()
    live = next(d for d in devices if not d.get("revoked_at"))
    revoke = await client.post(
        f"/api/admin/users/{officer.id}/devices/{live['id']}/revoke", headers=bearer(admin_token)
    )
    assert revoke.json() == {"revoked": True}
    assert (await client.post("/api/auth/logout", headers=bearer(tokens["hendra"]))).status_code == 204

    rows = [row for row in await every_audit_row(storage)]
    recorded = [row.entry.kind for row in rows]
    for kind in (
        "auth.login_failed",
        "auth.login_refused",
        "auth.login",
        "auth.logout",
        "auth.token_revoked",
        "user.created",
        "user.disabled",
        "mutation",
    ):
        assert kind in recorded, kind
    mutations = [r.entry for r in rows if r.entry.kind == "mutation"]
    # One entry per applied mutation, with who, which device, what and the outcome.
    assert [m.detail["op"] for m in mutations] == ["create", "patch", "patch", "resolve"]
    assert mutations[2].detail["status"] == "conflict" and mutations[2].device == "dev-joko-0001"
    assert mutations[3].subject == f"conflicts/{conflict_id}" and mutations[3].actor_id == supervisor.id
    assert mutations[3].detail["fields"] == {"value": "kritis"}
    assert all(m.warehouse_id == wh.id for m in mutations)
    # No secret ever reaches the log: neither passwords nor tokens.
    text = b"".join(r.content for r in rows)
    assert PASSWORD.encode() not in text and b"x" * 12 not in text
    assert not any(token.encode() in text for token in [*tokens.values(), admin_token])
    report = await verify_log(storage)
    assert report.ok and report.count == len(rows)


async def test_a_retried_push_adds_no_audit_entry_and_a_rejected_one_is_recorded(
    client: httpx.AsyncClient, factory: Factory, storage: SqliteStorage
) -> None:
    wh = await factory.warehouse()
    user = await factory.user(warehouses=[wh])
    sari = Device(client, await factory.token(user, client_id="dev-sari-0002"), "dev-sari-0002")
    batch = [
        sari.mutation("create", "inc-1", warehouse_id=wh.id, fields=INCIDENT),
        sari.mutation("create", "inc-2", warehouse_id=wh.id, fields={**INCIDENT, "status": "resolved"}),
    ]
    assert [r["status"] for r in (await sari.push(batch)).json()["results"]] == ["applied", "rejected"]
    assert [r["replayed"] for r in (await sari.push(batch)).json()["results"]] == [True, True]
    rows = [row.entry for row in await every_audit_row(storage)]
    assert [(e.kind, e.detail["status"]) for e in rows] == [("mutation", "applied"), ("mutation", "rejected")]


async def test_entries_appended_by_another_process_never_fork_the_chain(tmp_path: Path) -> None:
    """The CLI (`tigapilar user disable` while the server runs) appends to the same file: the server
    must chain its next entry after the CLI's, not after the head it saw last."""
    server = SqliteStorage(tmp_path / "shared.db")
    await server.open()
    other = SqliteStorage(tmp_path / "shared.db")
    await other.open()
    try:
        for n in range(6):
            await (server if n % 2 == 0 else other).append_audit(entry(n))
        async with server.write() as tx:  # the sync engine's path chains too
            await tx.commit(
                BatchEffects(
                    client_id="",
                    user_id="",
                    last_seq=0,
                    revisions={},
                    records=[],
                    outcomes=[],
                    digests={},
                    audit=[entry(99, "mutation")],
                    attachment_refs=[],
                )
            )
        await other.append_audit(entry(100))
        report = await verify_log(server)
        assert report.ok and report.count == 8, report
    finally:
        await other.close()
        await server.close()


# -- tampering, found by `tigapilar audit verify` -----------------------------------------------------
@pytest.fixture
def chained_db(tmp_path: Path) -> tuple[str, Path]:
    path = tmp_path / "audit.db"

    async def build() -> None:
        storage = SqliteStorage(path)
        await storage.open()
        try:
            for n in range(1, 8):
                await storage.append_audit(entry(n))
        finally:
            await storage.close()

    asyncio.run(build())
    return f"sqlite:///{path}", path


def cut_state(keep: int) -> str:
    """The system chain's state moved back to entry `keep`: what someone who drops the newest
    entries also does so that the chain and its state agree (only a published head or a signed
    checkpoint catches that)."""
    return (
        f"UPDATE warehouse_state SET audit_id = {keep}, audit_hash ="
        f" (SELECT hash FROM audit_log WHERE chain = '' AND id = {keep}) WHERE warehouse_id = ''"
    )


def tamper(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    try:
        for sql in statements:
            conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("statements", "broken", "reason"),
    [
        pytest.param(
            # The detail is stored only in the hashed content (migration 0008): editing it there
            # changes what the audit view shows and breaks the entry's hash.
            [
                "UPDATE audit_log SET content = CAST(replace(CAST(content AS TEXT), '\"n\":4', '\"n\":400')"
                " AS BLOB) WHERE id = 4"
            ],
            4,
            "hash chain broken",
            id="detail-in-content",
        ),
        pytest.param(
            ["UPDATE audit_log SET actor_id = 'u-mallory' WHERE id = 4"], 4, "columns differ", id="actor"
        ),
        pytest.param(
            ["UPDATE audit_log SET kind = 'auth.login' WHERE id = 3"], 3, "columns differ", id="kind"
        ),
        pytest.param(
            ["UPDATE audit_log SET subject = 'inspections/other' WHERE id = 6"],
            6,
            "columns differ",
            id="subject",
        ),
        pytest.param(
            ["UPDATE audit_log SET content = CAST('{\"n\":400}' AS BLOB) WHERE id = 4"],
            4,
            "hash chain broken",
            id="hashed-content",
        ),
        pytest.param(["DELETE FROM audit_log WHERE id = 5"], 6, "hash chain broken", id="delete-row"),
        pytest.param(["DELETE FROM audit_log WHERE id = 1"], 2, "hash chain broken", id="delete-first"),
        pytest.param(
            [
                "UPDATE audit_log SET id = -3 WHERE id = 3",
                "UPDATE audit_log SET id = 3 WHERE id = 4",
                "UPDATE audit_log SET id = 4 WHERE id = -3",
            ],
            3,
            "hash chain broken",
            id="reorder",
        ),
        pytest.param(
            ["UPDATE audit_log SET hash = '" + "ab" * 32 + "' WHERE id = 7"],
            7,
            "hash chain broken",
            id="head-hash",
        ),
        pytest.param(
            [
                "INSERT INTO audit_log (id, at, kind, actor_id, actor_agency, device, warehouse_id, subject,"
                " content, prev_hash, hash) SELECT 100, at, kind, actor_id, actor_agency, device,"
                " warehouse_id, subject, content, prev_hash, hash FROM audit_log WHERE id = 2"
            ],
            100,
            "hash chain broken",
            id="replayed-entry",
        ),
    ],
)
def test_audit_verify_reports_the_first_tampered_entry(
    chained_db: tuple[str, Path],
    statements: list[str],
    broken: int,
    reason: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, path = chained_db
    assert run_cli("audit", "verify", "--database", url) == 0
    assert "intact: 7 entries" in capsys.readouterr().out
    tamper(path, *statements)
    assert run_cli("audit", "verify", "--database", url) == 1
    out = capsys.readouterr().out
    assert f"BROKEN at entry {broken} of the system chain:" in out and reason in out


def test_audit_head_prints_the_newest_entry_and_moves_with_every_append(
    chained_db: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url, path = chained_db
    assert run_cli("audit", "head", "--database", url) == 0
    head_id, head_hash = capsys.readouterr().out.split()
    assert head_id == "7" and len(head_hash) == 64
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT hash FROM audit_log WHERE id = 7").fetchone()[0] == head_hash
    finally:
        conn.close()
    # Dropping the newest entries behind the chain state's back is caught by the state...
    tamper(path, "DELETE FROM audit_log WHERE id >= 6")
    assert run_cli("audit", "verify", "--database", url) == 1
    assert "its state records head 7" in capsys.readouterr().out
    # ...but moving the state back too leaves a valid, shorter chain: that is why the head is
    # published (and checkpointed): the published head no longer exists in the log.
    tamper(path, cut_state(5))
    assert run_cli("audit", "verify", "--database", url) == 0
    assert head_hash not in capsys.readouterr().out


async def test_csv_exports_carry_the_audit_head(
    client: httpx.AsyncClient, factory: Factory, storage: SqliteStorage
) -> None:
    wh = await factory.warehouse()
    supervisor = await factory.user(role="supervisor", warehouses=[wh])
    token = await factory.token(supervisor)
    await storage.append_audit(entry(1))
    response = await client.get("/api/exports/incidents.csv?form=raw", headers=bearer(token))
    if (
        response.status_code == 404
        and response.json().get("code") == "not_found"
        and "available" not in response.text
    ):
        pytest.skip("no CSV export endpoint in this build")
    assert response.status_code == 200, response.text
    head = await storage.audit_head()
    assert head is not None
    assert response.headers["x-audit-head"] == head[1]
    assert response.headers["x-audit-head-id"] == str(head[0])


# -- signed checkpoints ---------------------------------------------------------------------------------
def test_signed_checkpoints_catch_truncation_and_rewriting(
    chained_db: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("cryptography")
    url, path = chained_db
    key, marks = tmp_path / "keys" / "sekretariat.key", tmp_path / "audit.checkpoints"
    assert run_cli("audit", "keygen", str(key)) == 0
    assert key.stat().st_mode & 0o077 == 0  # the private key is readable by its owner only
    assert run_cli("audit", "keygen", str(key)) == 1  # never overwrites a key
    public = Path(f"{key}.pub")
    assert run_cli("audit", "checkpoint", "--key", str(key), "--out", str(marks), "--database", url) == 0
    capsys.readouterr()
    verify = ("audit", "verify", "--database", url, "--checkpoints", str(marks), "--public-key", str(public))
    assert run_cli(*verify) == 0
    assert "1 signed checkpoint(s) match" in capsys.readouterr().out

    # Someone with write access drops the newest entries and moves the chain's state back: the
    # chain alone still holds...
    tamper(path, "DELETE FROM audit_log WHERE id >= 6", cut_state(5))
    assert run_cli("audit", "verify", "--database", url) == 0
    capsys.readouterr()
    # ...but the checkpoint of the root over entry 7 does not.
    assert run_cli(*verify) == 1
    assert "the log no longer has entry 7 of the system chain" in capsys.readouterr().out


def test_a_checkpoint_signed_by_another_key_or_edited_fails(
    chained_db: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("cryptography")
    url, _ = chained_db
    ours, theirs, marks = tmp_path / "ours.key", tmp_path / "theirs.key", tmp_path / "marks"
    assert run_cli("audit", "keygen", str(ours)) == 0 and run_cli("audit", "keygen", str(theirs)) == 0
    assert run_cli("audit", "checkpoint", "--key", str(theirs), "--out", str(marks), "--database", url) == 0
    capsys.readouterr()
    verify = [
        "audit",
        "verify",
        "--database",
        url,
        "--checkpoints",
        str(marks),
        "--public-key",
        f"{ours}.pub",
    ]
    assert run_cli(*verify) == 1
    assert "signature does not verify" in capsys.readouterr().out
    # Our own signature, then a forged hash in the line: the signature no longer covers it.
    marks.unlink()
    assert run_cli("audit", "checkpoint", "--key", str(ours), "--out", str(marks), "--database", url) == 0
    line = marks.read_text()
    marks.write_text(line.replace(line.split('"root":"')[1][:4], "0000", 1))
    capsys.readouterr()
    assert run_cli(*verify) == 1
    assert "signature does not verify" in capsys.readouterr().out


# -- the log proves its order: ids and times are hashed (format 2), on both backends --------------------
Rows = Callable[..., list[tuple[object, ...]]]
INSERT = (
    "INSERT INTO audit_log (id, at, kind, actor_id, actor_agency, device, warehouse_id, subject,"
    " content, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def insert_rows(sql_rows: Rows, rows: list[tuple[int, AuditEntry, bytes, str, str]]) -> None:
    """Write entries of the system chain behind the storage's back, as they are given (id, entry,
    content, prev, hash), and move the chain's state to the last (as the migration that split the
    log into chains did for the entries written before it)."""
    for entry_id, e, content, prev, digest in rows:
        sql_rows(INSERT, entry_id, e.at, e.kind, e.actor_id, e.actor_agency, e.device, e.warehouse_id,
                 e.subject, content, prev, digest)  # fmt: skip
    entry_id, e, _, _, digest = rows[-1]
    sql_rows(
        "UPDATE warehouse_state SET audit_id = ?, audit_hash = ?, audit_at = ? WHERE warehouse_id = ''",
        entry_id,
        digest,
        e.at,
    )


def forged(entries: list[AuditEntry], *, format: int = 2, first: int = 1, head: str = GENESIS) -> list[Any]:
    """A chain as a forger with write access would compute it, hashes right, nothing else checked."""
    rows = []
    for n, e in enumerate(entries, first):
        content = content_of(n, e, format)
        digest = chain(head, content)
        rows.append((n, e, content, head, digest))
        head = digest
    return rows


async def test_renumbered_entries_break_the_chain(storage: Storage, sql_rows: Rows) -> None:
    for n in range(1, 8):
        await storage.append_audit(entry(n))
    assert (await verify_log(storage)).ok
    # Make room for an entry "between" 4 and 5: every later id moves up (the chain's state too),
    # nothing else changes.
    sql_rows("UPDATE audit_log SET id = id + 100 WHERE id >= 5")
    sql_rows("UPDATE warehouse_state SET audit_id = audit_id + 100 WHERE warehouse_id = ''")
    report = await verify_log(storage)
    assert (report.first_broken, report.count) == (105, 5)
    assert "hashed as entry 5" in report.reason


async def test_a_log_whose_times_go_back_fails_verify(storage: Storage, sql_rows: Rows) -> None:
    """A chain recomputed by someone who slipped in an entry dated in the past: every hash is
    right, but the log cannot prove its order, so verify refuses it."""
    entries = [entry(n) for n in (1, 2, 3)]
    backdated = msgspec.structs.replace(entry(4), at="2026-11-27T23:59:00.000Z")
    insert_rows(sql_rows, forged([*entries, backdated, entry(5)]))
    report = await verify_log(storage)
    assert (report.first_broken, report.count) == (4, 4) and "time goes backwards" in report.reason


async def test_the_first_format_still_verifies_and_cannot_follow_a_later_one(
    storage: Storage, sql_rows: Rows
) -> None:
    """Entries written before ids were hashed verify as they were written (their times may step
    back: counted, not refused); entries appended now are of format 3 after them; an entry of
    format 1 after a numbered one breaks the log (no way back to the weaker format)."""
    old = [entry(n) for n in (1, 3, 2)]  # written by two processes at once: one time steps back
    insert_rows(sql_rows, forged(old, format=1))
    await storage.append_audit(entry(9))
    report = await verify_log(storage)
    assert report.ok and report.formats == {1: 3, 3: 1} and report.legacy_time_steps_back == 1
    assert report.head_id == 4
    head = await storage.audit_head()
    assert head is not None
    insert_rows(sql_rows, forged([entry(10)], format=1, first=5, head=head[1]))
    report = await verify_log(storage)
    assert report.first_broken == 5 and "format 1 after format 3" in report.reason


async def test_a_published_head_catches_the_newest_entries_being_removed(
    storage: Storage, sql_rows: Rows, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(1, 8):
        await storage.append_audit(entry(n))
    head = await storage.audit_head()
    assert head is not None
    published = ["--head", str(head[0]), head[1]]

    async def verify(*args: str) -> int:  # the CLI runs its own event loop: in a thread
        return await asyncio.to_thread(run_cli, "audit", "verify", "--database", database_url, *args)

    assert await verify(*published) == 0
    assert f"published head 7 of the system chain {head[1]} is in the log" in capsys.readouterr().out
    sql_rows("DELETE FROM audit_log WHERE id >= 6")
    sql_rows(cut_state(5))
    assert await verify() == 0  # the chain alone (and its state, moved back too) still holds
    assert await verify(*published) == 1
    assert "published head 7 of the system chain FAILS: the log no longer has" in capsys.readouterr().out
    assert await verify("--head", "5", head[1]) == 1
    assert "entry has another hash" in capsys.readouterr().out
    assert await verify("--head", "5", "xyz") == 1


# -- checkpoints are one chain, and a file cut short or empty fails -------------------------------------
@pytest.fixture
def signed(chained_db: tuple[str, Path], tmp_path: Path) -> tuple[list[str], Path, list[str]]:
    """Three checkpoints of the chained log, one after each of three new entries: (the verify
    command, the checkpoints file, its lines)."""
    pytest.importorskip("cryptography")
    url, path = chained_db
    key, marks = tmp_path / "sekretariat.key", tmp_path / "audit.checkpoints"
    assert run_cli("audit", "keygen", str(key)) == 0
    for n in (8, 9, 10):
        asyncio.run(_append(path, entry(n)))
        assert run_cli("audit", "checkpoint", "--key", str(key), "--out", str(marks), "--database", url) == 0
    verify = ["audit", "verify", "--database", url, "--checkpoints", str(marks), "--public-key", f"{key}.pub"]
    return verify, marks, marks.read_text().splitlines(keepends=True)


async def _append(path: Path, e: AuditEntry) -> None:
    storage = SqliteStorage(path)
    await storage.open()
    try:
        await storage.append_audit(e)
    finally:
        await storage.close()


def test_chained_checkpoints_verify(
    signed: tuple[list[str], Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    verify, _, lines = signed
    assert [msgspec.json.decode(line)["format"] for line in lines] == [3, 3, 3]
    assert run_cli(*verify) == 0
    assert "3 signed checkpoint(s) match the log, chained" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda lines: "", "holds no checkpoint"),
        (lambda lines: "\n\n", "holds no checkpoint"),
        (lambda lines: "".join(lines)[:-40], "truncated"),
        (lambda lines: "".join(lines).rstrip("\n"), "truncated"),
        (lambda lines: lines[0] + lines[2], "not chained"),  # the middle one removed
        (lambda lines: lines[1] + lines[0] + lines[2], "not chained"),  # two swapped
        (lambda lines: lines[1] + lines[2], "not chained"),  # the first one removed
    ],
    ids=[
        "empty",
        "blank-lines",
        "cut-mid-line",
        "no-final-newline",
        "middle-removed",
        "swapped",
        "first-removed",
    ],
)
def test_an_empty_cut_or_unchained_checkpoints_file_fails(
    signed: tuple[list[str], Path, list[str]],
    capsys: pytest.CaptureFixture[str],
    change: Callable[[list[str]], str],
    reason: str,
) -> None:
    verify, marks, lines = signed
    marks.write_text(change(lines))
    assert run_cli(*verify) == 1
    assert reason in capsys.readouterr().err


def test_a_checkpoint_is_appended_only_to_a_whole_file(
    chained_db: tuple[str, Path], signed: tuple[list[str], Path, list[str]], tmp_path: Path
) -> None:
    url, _ = chained_db
    _, marks, lines = signed
    marks.write_text(lines[0] + lines[2])
    key = tmp_path / "sekretariat.key"
    assert run_cli("audit", "checkpoint", "--key", str(key), "--out", str(marks), "--database", url) == 1
    assert marks.read_text() == lines[0] + lines[2]


def test_first_format_checkpoints_verify_before_chained_ones(
    chained_db: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file written before checkpoints were chained goes on: its lines verify as they are, and
    the next checkpoint is chained to the last of them."""
    pytest.importorskip("cryptography")
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from server import checkpoints as cp

    url, path = chained_db
    key, marks = tmp_path / "sekretariat.key", tmp_path / "audit.checkpoints"
    assert run_cli("audit", "keygen", str(key)) == 0
    private = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(key.read_text()))
    head = asyncio.run(_head(path))
    message = cp.DOMAIN + cp.canonical({"id": head[0], "hash": head[1], "at": "2026-11-28T01:00:00.000Z"})
    public = Path(f"{key}.pub").read_text().strip()
    legacy = {"id": head[0], "hash": head[1], "at": "2026-11-28T01:00:00.000Z",
              "key": public, "signature": private.sign(message).hex()}  # fmt: skip
    marks.write_bytes(msgspec.json.encode(legacy) + b"\n")
    asyncio.run(_append(path, entry(8)))
    assert run_cli("audit", "checkpoint", "--key", str(key), "--out", str(marks), "--database", url) == 0
    lines = marks.read_text().splitlines()
    assert msgspec.json.decode(lines[1])["prev"] == hashlib.sha256(message).hexdigest()
    verify = ["audit", "verify", "--database", url, "--checkpoints", str(marks), "--public-key", f"{key}.pub"]
    assert run_cli(*verify) == 0
    assert "2 signed checkpoint(s) match" in capsys.readouterr().out
    marks.write_text(lines[1] + "\n" + lines[0] + "\n")  # a first-format line after a chained one
    assert run_cli(*verify) == 1


async def _head(path: Path) -> tuple[int, str]:
    storage = SqliteStorage(path)
    await storage.open()
    try:
        head = await storage.audit_head()
    finally:
        await storage.close()
    assert head is not None
    return head
