"""Device freshness from maintained rows (migration 0010, issue 18): after pushes, photo uploads,
device logins and revocations and assignment changes, `device_sync_state` answers exactly what
the scan it replaced (devices x assignments x client_state, counting each client's missing photos
over attachment_refs) answers, and `device_sync` holds one row per live device and warehouse of
its user. Run on either backend (--backend)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import pytest

from server.models import Device, UserInput, Warehouse, now_iso
from server.storage import AttachmentMeta, Storage, open_storage
from server.storage.base import DeviceSyncState
from server.storage.postgres import migrations as pg_migrations
from server.storage.postgres.testing import fetch_sync, session_databases, with_database
from server.storage.sqlite import migrations
from sync.clock import format_hlc
from sync.messages import Digest, MutationResult
from sync.store import AttachmentRef, BatchEffects, Record, StoredOutcome
from tests.conftest import opened

Rows = Callable[..., list[tuple[object, ...]]]
SHA_A, SHA_B, SHA_C = "a" * 64, "b" * 64, "c" * 64
AT = "2024-02-14T01:00:00.000Z"


def scan(sql_rows: Rows, warehouse_ids: Sequence[str]) -> list[DeviceSyncState]:
    """The query device_sync_state ran before migration 0010, in the dialect both backends read."""
    marks = ", ".join("?" * len(warehouse_ids))
    devices = sql_rows(
        "SELECT d.id, d.user_id, d.name, d.client_id, d.created_at, d.last_seen,"
        " c.updated_at, coalesce(c.last_seq, 0),"
        " (SELECT count(DISTINCT r.sha256) FROM attachment_refs AS r"
        "   LEFT JOIN attachments AS a ON a.sha256 = r.sha256"
        "   WHERE r.client_id = d.client_id AND a.sha256 IS NULL)"
        " FROM devices AS d LEFT JOIN client_state AS c ON c.client_id = d.client_id"
        " WHERE d.revoked_at IS NULL AND d.expires_at > ?"
        f" AND d.user_id IN (SELECT user_id FROM assignments WHERE warehouse_id IN ({marks}))",
        now_iso(),
        *warehouse_ids,
    )
    links = sql_rows(
        f"SELECT user_id, warehouse_id FROM assignments WHERE warehouse_id IN ({marks})", *warehouse_ids
    )
    assigned: dict[str, list[str]] = {}
    for user_id, warehouse_id in sorted(links, key=lambda link: str(link[1])):
        assigned.setdefault(str(user_id), []).append(str(warehouse_id))
    found = [
        DeviceSyncState(
            device_id=str(r[0]),
            user_id=str(r[1]),
            name=str(r[2]),
            client_id=str(r[3]),
            created_at=str(r[4]),
            last_seen=str(r[5]),
            last_push_at=str(r[6]) if r[6] else None,
            last_seq=int(r[7]),  # type: ignore[call-overload]
            missing_attachments=int(r[8]),  # type: ignore[call-overload]
            warehouses=assigned.get(str(r[1]), []),
        )
        for r in devices
    ]
    return sorted(found, key=lambda d: (d.last_seen, d.device_id))


async def assert_maintained(storage: Storage, sql_rows: Rows) -> None:
    for scope in (["w1"], ["w2"], ["w3"], ["w1", "w2"], ["w1", "w2", "w3"], ["w9"]):
        assert await storage.device_sync_state(scope) == scan(sql_rows, scope), scope
    rows = sql_rows("SELECT warehouse_id, device_id, user_id FROM device_sync")
    live = sql_rows(
        "SELECT a.warehouse_id, d.id, d.user_id FROM devices AS d"
        " JOIN assignments AS a ON a.user_id = d.user_id"
        " WHERE d.revoked_at IS NULL"
    )
    assert sorted(rows) == sorted(live)


def device(n: int, user_id: str, client_id: str, *, expires_at: str = "2099-01-01T00:00:00.000Z") -> Device:
    return Device(
        id=f"d{n}",
        user_id=user_id,
        name=f"HP {n}",
        client_id=client_id,
        created_at=f"2024-02-1{n}T00:00:00.000Z",
        last_seen=f"2024-02-1{n}T00:00:00.000Z",
        expires_at=expires_at,
    )


async def push(
    storage: Storage, client_id: str, user_id: str, warehouse_id: str, seq: int, photos: Sequence[str]
) -> None:
    """One applied mutation from `client_id` creating an incident with `photos`."""
    async with storage.write() as tx:
        revision = (await tx.revisions([warehouse_id]))[warehouse_id] + 1
        record_id = f"r-{client_id}-{seq}"
        await tx.commit(
            BatchEffects(
                client_id=client_id,
                user_id=user_id,
                last_seq=seq,
                revisions={warehouse_id: revision},
                records=[
                    Record(
                        id=record_id,
                        collection="incidents",
                        warehouse_id=warehouse_id,
                        revision=revision,
                        fields={"title": "Segel pintu sobek", "severity": "tinggi", "photos": list(photos)},
                        field_revs={"title": revision},
                        field_hlcs={"title": format_hlc(1_700_000_000_000, seq, client_id)},
                        field_by={"title": user_id},
                        created_by=user_id,
                        updated_by=user_id,
                        created_at=AT,
                        updated_at=AT,
                    )
                ],
                outcomes=[
                    StoredOutcome(
                        client_id=client_id,
                        seq=seq,
                        user_id=user_id,
                        warehouse_id=warehouse_id,
                        collection="incidents",
                        record_id=record_id,
                        op="create",
                        result=MutationResult(seq=seq, id=record_id, status="applied", revision=revision),
                        mutation=b'{"seq": %d}' % seq,
                        at=f"2024-02-14T0{seq}:00:00.000Z",
                    )
                ],
                digests={warehouse_id: Digest(count=revision, checksum="0000abcd")},
                audit=[],
                attachment_refs=[
                    AttachmentRef(sha256=s, record_id=record_id, client_id=client_id) for s in photos
                ],
            )
        )


async def upload(storage: Storage, sha256: str, user_id: str) -> None:
    meta = AttachmentMeta(
        sha256=sha256,
        size=3,
        mime="image/jpeg",
        path=f"attachments/{sha256[:2]}/x",
        uploaded_by=user_id,
        created_at=AT,
    )
    assert await storage.put_attachment(meta) is True
    assert await storage.put_attachment(meta) is False  # a second upload changes nothing


async def test_device_sync_rows_answer_what_the_scan_did(storage: Storage, sql_rows: Rows) -> None:
    for n in (1, 2, 3):
        await storage.put_warehouse(Warehouse(id=f"w{n}", code=f"w{n}", name=f"Gudang {n}"))
    await storage.create_user(
        "u1", UserInput(username="joko", full_name="Joko", agency="TNI", warehouses=["w1"]), "h"
    )
    await storage.create_user(
        "u2", UserInput(username="sari", full_name="Sari", agency="POLRI", warehouses=["w1", "w2"]), "h"
    )
    await storage.create_user(
        "u3", UserInput(username="budi", full_name="Budi", agency="KPU", warehouses=["w3"]), "h"
    )
    await storage.create_device(device(1, "u1", "client-a"), "t1")
    await storage.create_device(device(2, "u2", "client-b"), "t2")
    await storage.create_device(device(3, "u2", "client-c"), "t3")
    await storage.create_device(device(4, "u3", "client-d"), "t4")
    await storage.create_device(device(5, "u1", "client-e", expires_at="2024-01-01T00:00:00.000Z"), "t5")
    await assert_maintained(storage, sql_rows)
    assert {d.device_id for d in await storage.device_sync_state(["w1"])} == {"d1", "d2", "d3"}

    await push(storage, "client-a", "u1", "w1", 1, [SHA_A, SHA_B])
    await push(storage, "client-b", "u2", "w2", 1, [SHA_A])
    await push(storage, "client-a", "u1", "w1", 2, [SHA_B])  # a photo referenced twice counts once
    await assert_maintained(storage, sql_rows)
    by_id = {d.device_id: d for d in await storage.device_sync_state(["w1", "w2"])}
    assert (by_id["d1"].missing_attachments, by_id["d1"].last_seq) == (2, 2)
    assert by_id["d2"].missing_attachments == 1

    await upload(storage, SHA_A, "u1")
    await assert_maintained(storage, sql_rows)
    assert [d.missing_attachments for d in await storage.device_sync_state(["w2"])] == [0, 0]

    await storage.touch_devices([("d2", "2024-03-01T00:00:00.000Z")])
    assert await storage.rename_device("d4", "HP gudang")
    assert await storage.revoke_device("d3", "2024-03-02T00:00:00.000Z")
    await assert_maintained(storage, sql_rows)

    await storage.assign("u2", ["w2", "w3"])
    await storage.assign("u3", [])
    await assert_maintained(storage, sql_rows)
    assert [d.device_id for d in await storage.device_sync_state(["w1"])] == ["d1"]

    assert await storage.revoke_devices("u1", "2024-03-03T00:00:00.000Z") == 2
    await storage.create_device(device(6, "u1", "client-a"), "t6")  # the same phone logs in again
    await push(storage, "client-d", "u3", "w3", 1, [SHA_C])
    await upload(storage, SHA_B, "u1")
    await assert_maintained(storage, sql_rows)
    [again] = await storage.device_sync_state(["w1"])
    assert (again.device_id, again.missing_attachments, again.last_seq) == ("d6", 0, 2)


async def test_migration_10_fills_the_rows_from_a_database_with_devices_and_photos(
    database_url: str, storage_backend: str, sql_rows: Rows, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database from before 0010 (logged-in phones, revoked ones, photos referenced and some
    uploaded) answers the same device freshness after it, and keeps it from then on."""
    if storage_backend == "sqlite":
        await migrate_to_10(database_url, migrations, sql_rows, tmp_path, monkeypatch)
        return
    # A database of its own: the fixture's is cloned from a template already at the last version.
    databases = session_databases()
    assert databases is not None
    url = with_database(databases.server_url, databases.name_for(tmp_path / "m10"))
    try:
        await migrate_to_10(
            url, pg_migrations, lambda sql, *args: fetch_sync(url, sql, *args), tmp_path, monkeypatch
        )
    finally:
        await databases.drop(url)


async def migrate_to_10(
    url: str, module: ModuleType, sql_rows: Rows, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundled = module.load()
    monkeypatch.setattr(module, "load", lambda: [m for m in bundled if m.version < 10])
    async with opened(open_storage(url, data_dir=tmp_path)) as storage:
        for n in (1, 2, 3):
            await storage.put_warehouse(Warehouse(id=f"w{n}", code=f"w{n}", name=f"Gudang {n}"))
    for user_id, warehouses in (("u1", ["w1"]), ("u2", ["w1", "w2"]), ("u3", [])):
        sql_rows(
            "INSERT INTO users (id, username, full_name, agency, role, password_hash, disabled,"
            " created_at, updated_at)"
            " VALUES (?, ?, ?, 'TNI', 'officer', 'h', FALSE, ?, ?)",
            user_id, user_id, user_id, AT, AT,
        )  # fmt: skip
        for warehouse_id in warehouses:
            sql_rows("INSERT INTO assignments (user_id, warehouse_id) VALUES (?, ?)", user_id, warehouse_id)
    for n, user_id, client_id, revoked in (
        (1, "u1", "client-a", None), (2, "u2", "client-b", None),
        (3, "u2", "client-c", AT), (4, "u3", "client-d", None),
    ):  # fmt: skip
        d = device(n, user_id, client_id)
        sql_rows(
            "INSERT INTO devices (id, user_id, name, client_id, token_hash, created_at, last_seen,"
            " expires_at, revoked_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            d.id, d.user_id, d.name, d.client_id, f"t{n}", d.created_at, d.last_seen, d.expires_at, revoked,
        )  # fmt: skip
    sql_rows(
        "INSERT INTO client_state (client_id, user_id, last_seq, updated_at)"
        " VALUES (?, 'u1', 4, ?), (?, 'u2', 1, ?)",
        "client-a", AT, "client-b", AT,
    )  # fmt: skip
    for sha256, client_id, user_id in (
        (SHA_A, "client-a", "u1"),
        (SHA_B, "client-a", "u1"),
        (SHA_A, "client-b", "u2"),
    ):
        sql_rows(
            "INSERT INTO attachment_refs (sha256, record_id, client_id, user_id, warehouse_id)"
            " VALUES (?, ?, ?, ?, 'w1')",
            sha256, f"r-{client_id}", client_id, user_id,
        )  # fmt: skip
    sql_rows(
        "INSERT INTO attachments (sha256, size, mime, path, uploaded_by, created_at)"
        " VALUES (?, 3, 'image/jpeg', 'p', 'u2', ?)",
        SHA_A, AT,
    )  # fmt: skip

    monkeypatch.setattr(module, "load", lambda: bundled)
    async with opened(open_storage(url, data_dir=tmp_path)) as storage:
        assert await storage.schema_version() == bundled[-1].version
        await assert_maintained(storage, sql_rows)
        by_id = {d.device_id: d for d in await storage.device_sync_state(["w1", "w2", "w3"])}
        assert sorted(by_id) == ["d1", "d2"]
        assert (by_id["d1"].missing_attachments, by_id["d1"].last_seq, by_id["d2"].missing_attachments) == (
            1,
            4,
            0,
        )
        await upload(storage, SHA_B, "u1")
        await storage.assign("u3", ["w3"])
        await assert_maintained(storage, sql_rows)
