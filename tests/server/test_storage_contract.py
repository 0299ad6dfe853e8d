"""The storage contract, written once and run against every backend.

Add a backend by adding an entry to BACKENDS. The PostgreSQL entry skips (saying why) unless
TIGAPILAR_TEST_POSTGRES_URL is set; its builder names a fresh database after tmp_path.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import msgspec
import pytest

from server import summaries
from server.models import Device, StockItemType, UserInput, Warehouse
from server.seed import load_template
from server.storage import AttachmentMeta, Conflict, Storage, StorageError
from server.storage.postgres.testing import postgres_builder
from server.storage.sqlite import SqliteStorage
from sync.audit import GENESIS, chain, content_of, verify
from sync.clock import format_hlc
from sync.digest import EMPTY
from sync.domain import Actor
from sync.engine import SyncEngine
from sync.messages import Digest, Mutation, MutationResult, PullRequest, PushRequest
from sync.store import AttachmentRef, AuditEntry, BatchEffects, Record, StoredOutcome, WriteTx
from tests.factories import assert_summaries_are_folds, every_audit_row

BACKENDS: dict[str, Callable[[Path], Storage]] = {
    "sqlite": lambda tmp: SqliteStorage(tmp / "contract.db"),
    "postgres": postgres_builder,
}

SHA_A = "a" * 64
SHA_B = "b" * 64


@pytest.fixture(params=sorted(BACKENDS))
def build(request: pytest.FixtureRequest) -> Callable[[Path], Storage]:
    return BACKENDS[request.param]


@pytest.fixture
async def store(build: Callable[[Path], Storage], tmp_path: Path) -> AsyncIterator[Storage]:
    storage = build(tmp_path)
    await storage.open()
    try:
        yield storage
    finally:
        await storage.close()


def record(record_id: str, revision: int, warehouse_id: str = "w1", **fields: object) -> Record:
    return Record(
        id=record_id,
        collection="incidents",
        warehouse_id=warehouse_id,
        revision=revision,
        fields=dict(fields) or {"title": "Segel pintu sobek", "severity": "tinggi"},
        field_revs={"title": revision},
        field_hlcs={"title": format_hlc(1_700_000_000_000, 0, "client-0001")},
        field_by={"title": "u1"},
        created_by="u1",
        updated_by="u1",
        created_at="2024-02-14T01:00:00.000Z",
        updated_at="2024-02-14T01:00:00.000Z",
    )


def outcome(seq: int, record_id: str, revision: int | None, client_id: str = "client-0001") -> StoredOutcome:
    return StoredOutcome(
        client_id=client_id,
        seq=seq,
        user_id="u1",
        warehouse_id="w1",
        collection="incidents",
        record_id=record_id,
        op="create",
        result=MutationResult(seq=seq, id=record_id, status="applied", revision=revision),
        mutation=b'{"seq": %d}' % seq,
        at="2024-02-14T01:00:00.000Z",
    )


def entry(kind: str = "mutation", subject: str = "incidents/r1", **detail: object) -> AuditEntry:
    return AuditEntry(
        at="2024-02-14T01:00:00.000Z",
        kind=kind,
        actor_id="u1",
        actor_agency="POLRI",
        device="client-0001",
        warehouse_id="w1",
        subject=subject,
        detail=dict(detail),
    )


def effects(*records: Record, client_id: str = "client-0001", last_seq: int | None = None) -> BatchEffects:
    revisions: dict[str, int] = {}
    for r in records:
        revisions[r.warehouse_id] = max(revisions.get(r.warehouse_id, 0), r.revision)
    return BatchEffects(
        client_id=client_id,
        user_id="u1",
        last_seq=last_seq if last_seq is not None else len(records),
        revisions=revisions,
        records=list(records),
        outcomes=[outcome(i + 1, r.id, r.revision, client_id) for i, r in enumerate(records)],
        digests={"w1": Digest(count=len(records), checksum="0000abcd")},
        audit=[entry(subject=f"incidents/{r.id}", n=i) for i, r in enumerate(records)],
        attachment_refs=[AttachmentRef(sha256=SHA_A, record_id=records[0].id, client_id=client_id)]
        if records
        else [],
    )


async def revision(tx: WriteTx, warehouse_id: str = "w1") -> int:
    """The warehouse's counter as the write transaction holds it."""
    return (await tx.revisions([warehouse_id]))[warehouse_id]


async def broken_chain(store: Storage) -> tuple[str, int] | None:
    """(chain, first broken entry id) of the first chain that does not verify, or None."""
    for name in await store.audit_chains():
        rows = [(r.id, r.content, r.prev_hash, r.hash) async for r in store.audit_rows(name)]
        broken = verify(rows, name)
        if broken is not None:
            return name, broken
    return None


async def audit_tuples(store: Storage) -> list[tuple[int, bytes, str, str]]:
    return [(row.id, row.content, row.prev_hash, row.hash) for row in await every_audit_row(store)]


# -- migrations ------------------------------------------------------------------------------------
async def test_fresh_database_is_at_latest_schema_and_migrating_again_is_a_no_op(store: Storage) -> None:
    version = await store.schema_version()
    assert version >= 1
    assert await store.migrate() == []
    assert await store.schema_version() == version


async def test_reopening_keeps_data(build: Callable[[Path], Storage], tmp_path: Path) -> None:
    first = build(tmp_path)
    await first.open()
    await first.put_warehouse(Warehouse(id="w1", code="w1", name="Gudang"))
    await first.close()
    second = build(tmp_path)
    await second.open(create=False)
    try:
        assert [w.id for w in await second.warehouses()] == ["w1"]
        assert await second.migrate() == []
    finally:
        await second.close()


async def test_open_without_create_refuses_a_missing_database(tmp_path: Path) -> None:
    storage = SqliteStorage(tmp_path / "missing.db")
    with pytest.raises(StorageError, match="not found"):
        await storage.open(create=False)
    assert not (tmp_path / "missing.db").exists()


# -- write transactions ----------------------------------------------------------------------------
async def test_commit_persists_the_whole_batch(store: Storage) -> None:
    r1, r2 = record("r1", 1), record("r2", 2)
    async with store.write() as tx:
        assert await revision(tx) == 0
        assert await tx.client_last_seq("client-0001") == 0
        await tx.commit(effects(r1, r2))

    async with store.write() as tx:
        assert await revision(tx) == 2
        assert await tx.client_last_seq("client-0001") == 2
        assert await tx.records(["r1", "r2", "nope"]) == {"r1": r1, "r2": r2}
        stored = await tx.outcomes("client-0001", [1, 2, 3])
        assert stored == {1: outcome(1, "r1", 1).result, 2: outcome(2, "r2", 2).result}
        assert await tx.digests(["w1", "w2"]) == {"w1": Digest(count=2, checksum="0000abcd"), "w2": EMPTY}
        assert await tx.attachments_present([SHA_A]) == set()
    assert [row.entry.subject for row in [r for r in await every_audit_row(store)]] == [
        "incidents/r1",
        "incidents/r2",
    ]


async def test_records_keep_every_bookkeeping_field(store: Storage) -> None:
    r = record("r1", 7, title="Atap bocor", photos=["x"], count=3, nested={"a": [1, 2]})
    r.deleted = True
    async with store.write() as tx:
        await tx.commit(effects(r))
    async with store.read() as rx:
        [back] = await rx.changes("w1", 0, 10)
    assert back == r
    assert back.to_change().deleted is True


async def test_without_commit_nothing_is_written(store: Storage) -> None:
    async with store.write() as tx:
        await tx.records(["r1"])
    async with store.write() as tx:
        assert await revision(tx) == 0
        assert await tx.records(["r1"]) == {}
    assert await audit_tuples(store) == []


async def test_an_exception_after_commit_rolls_the_batch_back(store: Storage) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with store.write() as tx:
            await tx.commit(effects(record("r1", 1)))
            raise RuntimeError("boom")
    async with store.write() as tx:
        assert await revision(tx) == 0
        assert await tx.records(["r1"]) == {}
        assert await tx.client_last_seq("client-0001") == 0
    assert await audit_tuples(store) == []
    # The cached chain head did not move: the next entry still links to GENESIS.
    await store.append_audit(entry("auth.login"))
    [(_, content, prev, digest)] = await audit_tuples(store)
    assert prev == GENESIS and digest == chain(GENESIS, content)


async def test_appended_times_never_go_back_even_when_the_clock_does(store: Storage) -> None:
    """An entry stamped before the head (a clock set back, a writer that waited for the lock) is
    stored at the head's time, in a batch as alone: the log's times only go forward."""
    later = msgspec.structs.replace(entry("auth.login"), at="2026-11-27T10:00:00.000Z")
    earlier = msgspec.structs.replace(entry("auth.logout"), at="2026-11-27T09:00:00.000Z")
    await store.append_audit(later)
    await store.append_audit(earlier)
    batch = effects(record("r1", 1))
    batch.audit = [msgspec.structs.replace(a, at="2026-01-01T00:00:00.000Z") for a in batch.audit]
    async with store.write() as tx:
        await tx.commit(batch)
    rows = [row for row in await every_audit_row(store)]
    assert [r.entry.at for r in rows] == ["2026-11-27T10:00:00.000Z"] * len(rows)
    assert all(msgspec.json.decode(r.content)["at"] == r.entry.at for r in rows)
    assert await broken_chain(store) is None


async def test_an_upsert_replaces_the_record_and_revision_never_goes_back(store: Storage) -> None:
    async with store.write() as tx:
        await tx.commit(effects(record("r1", 5)))
    newer = record("r1", 6, title="Segel diganti")
    async with store.write() as tx:
        batch = effects(newer, last_seq=2)
        batch.outcomes = [outcome(2, "r1", 6)]
        batch.revisions = {"w1": 3}  # lower than the stored 5: the counter must not move back
        await tx.commit(batch)
    async with store.write() as tx:
        assert (await tx.records(["r1"]))["r1"].fields == {"title": "Segel diganti"}
        assert await revision(tx) == 5


async def test_write_transactions_are_serialized(store: Storage) -> None:
    """Concurrent batches never interleave: each reads the revision the previous one committed."""

    async def bump(i: int) -> None:
        async with store.write() as tx:
            current = await revision(tx)
            await asyncio.sleep(0)
            rec = record(f"r{i}", current + 1)
            batch = effects(rec, client_id=f"client-{i:04d}", last_seq=1)
            await tx.commit(batch)

    await asyncio.gather(
        *(bump(i) for i in range(25)), *(store.append_audit(entry("auth.login")) for _ in range(10))
    )
    async with store.write() as tx:
        assert await revision(tx) == 25
    assert await broken_chain(store) is None
    assert len(await audit_tuples(store)) == 35


async def test_each_warehouse_counts_its_own_revisions_and_keeps_its_own_chain(store: Storage) -> None:
    """Revisions and audit chains are per warehouse: a batch in one never moves another's counter
    or chain, and each chain is numbered from 1 (the system chain holds entries about none)."""
    async with store.write() as tx:
        await tx.commit(effects(record("r1", 1), record("r2", 2)))
    async with store.write() as tx:
        assert await revision(tx, "w2") == 0
        batch = effects(record("x1", 1, "w2"), client_id="client-0002", last_seq=1)
        batch.audit = [msgspec.structs.replace(entry(subject="incidents/x1"), warehouse_id="w2")]
        await tx.commit(batch)
    await store.append_audit(msgspec.structs.replace(entry("auth.login"), warehouse_id=None))
    async with store.write() as tx:
        assert await tx.revisions(["w1", "w2", "w9"]) == {"w1": 2, "w2": 1, "w9": 0}
    assert await store.live_cursors(["w2", "w1", "w9"]) == {"w1": 2, "w2": 1, "w9": 0}
    assert await store.latest_revision() == 2
    assert await store.audit_chains() == ["", "w1", "w2"]
    heads = await store.audit_heads()
    assert {c: h[0] for c, h in heads.items()} == {"": 1, "w1": 2, "w2": 1}
    assert heads == {c: await store.audit_head(c) for c in ("", "w1", "w2")}
    for chain_name in ("", "w1", "w2"):
        rows = [(r.id, r.content, r.prev_hash, r.hash) async for r in store.audit_rows(chain_name)]
        assert verify(rows, chain_name) is None
        assert verify(rows, "elsewhere") is not None  # an entry names its chain
    changes = await store.changes_after({"w1": 1, "w2": 0, "w9": 0}, 10)
    assert [(r.warehouse_id, r.id) for r in changes] == [("w1", "r2"), ("w2", "x1")]


async def test_template_lookup_in_a_write_transaction(store: Storage) -> None:
    template = load_template()
    await store.put_template(template)
    async with store.write() as tx:
        assert await tx.template(template.id) == template
        assert await tx.template("nope") is None


# -- read transactions -----------------------------------------------------------------------------
async def test_changes_are_ordered_by_revision_and_paged(store: Storage) -> None:
    async with store.write() as tx:
        await tx.commit(effects(record("r3", 3), record("r1", 1), record("other", 2, "w2"), record("r4", 4)))
    async with store.read() as rx:
        assert [r.id for r in await rx.changes("w1", 0, 10)] == ["r1", "r3", "r4"]
        assert [r.id for r in await rx.changes("w1", 1, 1)] == ["r3"]
        assert await rx.changes("w1", 4, 10) == []
        assert [r.id for r in await rx.changes("w2", 0, 10)] == ["other"]
        assert await rx.tombstone_horizons(["w1", "w2"]) == {"w1": 0, "w2": 0}
        assert await rx.digests(["w1", "w9"]) == {"w1": Digest(count=4, checksum="0000abcd"), "w9": EMPTY}


async def test_warehouse_revisions_are_each_warehouses_newest_record(store: Storage) -> None:
    assert await store.warehouse_revisions(["w1", "w2"]) == {"w1": 0, "w2": 0}
    async with store.write() as tx:
        await tx.commit(effects(record("r3", 3), record("r1", 1), record("other", 2, "w2")))
    assert await store.warehouse_revisions(["w2", "w1", "w9", "w1"]) == {"w1": 3, "w2": 2, "w9": 0}
    async with store.write() as tx:
        await tx.commit(effects(record("r1", 5), client_id="client-0002"))
    assert await store.warehouse_revisions(["w1", "w2"]) == {"w1": 5, "w2": 2}
    assert await store.warehouse_revisions([]) == {}


async def test_a_read_transaction_is_a_snapshot(store: Storage) -> None:
    async with store.write() as tx:
        await tx.commit(effects(record("r1", 1)))
    async with store.read() as rx:
        assert [r.id for r in await rx.changes("w1", 0, 10)] == ["r1"]
        async with store.write() as tx:  # commits while the read is open
            batch = effects(record("r2", 2), last_seq=2)
            batch.outcomes = [outcome(2, "r2", 2)]
            await tx.commit(batch)
        assert [r.id for r in await rx.changes("w1", 0, 10)] == ["r1"]
    async with store.read() as rx:
        assert [r.id for r in await rx.changes("w1", 0, 10)] == ["r1", "r2"]


async def test_outcome_revisions_and_missing_attachments(store: Storage) -> None:
    async with store.write() as tx:
        await tx.commit(effects(record("r1", 1), record("r2", 2), record("r3", 3)))
    async with store.read() as rx:
        assert await rx.outcome_revisions("client-0001", 1, 10) == [(2, "w1", 2), (3, "w1", 3)]
        assert await rx.outcome_revisions("client-0001", 0, 1) == [(1, "w1", 1)]
        assert await rx.outcome_revisions("someone-else", 0, 10) == []
        assert await rx.missing_attachments("client-0001") == [SHA_A]
    meta = AttachmentMeta(
        sha256=SHA_A, size=3, mime="image/jpeg", path="attachments/aa/x", uploaded_by="u1", created_at="t"
    )
    assert await store.put_attachment(meta) is True
    assert await store.put_attachment(meta) is False
    assert await store.attachment(SHA_A) == meta
    assert await store.attachments_present([SHA_A, SHA_B]) == {SHA_A}
    async with store.read() as rx:
        assert await rx.missing_attachments("client-0001") == []
    assert await store.attachment_warehouses(SHA_A) == {"w1"}
    assert await store.attachment_warehouses(SHA_B) == set()
    async with store.write() as tx:
        assert await tx.attachments_present([SHA_A, SHA_B]) == {SHA_A}


# -- audit log -------------------------------------------------------------------------------------
async def test_audit_entries_form_a_hash_chain_over_their_canonical_content(store: Storage) -> None:
    assert await store.audit_head("w1") is None
    first = await store.append_audit(entry("auth.login", detail_key="x"))
    async with store.write() as tx:
        await tx.commit(effects(record("r1", 1)))
    last = await store.append_audit(entry("auth.logout"))
    rows = [row for row in await every_audit_row(store)]
    assert next(r.id for r in rows) == first and rows[-1].id == last
    assert [r.entry.kind for r in rows] == ["auth.login", "mutation", "auth.logout"]
    assert [r.id for r in rows] == [1, 2, 3]  # numbered in the chain, without gaps
    for row in rows:
        assert row.content == content_of(row.id, row.entry)
        assert msgspec.json.decode(row.content)["id"] == row.id  # the id is hashed
    assert rows[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    assert await broken_chain(store) is None
    assert await store.audit_head("w1") == (last, rows[-1].hash)
    assert await store.audit_head() is None  # the system chain holds none of them
    assert [r.id for r in [row async for row in store.audit_rows("w1", after_id=first, batch=1)]] == [
        r.id for r in rows[1:]
    ]


# -- accounts and reference data -------------------------------------------------------------------
async def test_warehouses(store: Storage) -> None:
    b = Warehouse(id="w-b", code="b", name="Gudang B", kota="Jakarta Pusat")
    a = Warehouse(id="w-a", code="a", name="Gudang A")
    await store.put_warehouse(b)
    await store.put_warehouse(a)
    assert await store.warehouses() == [a, b]
    assert await store.warehouses(["w-b", "zz"]) == [b]
    assert await store.warehouses([]) == []
    assert await store.warehouse("w-b") == b
    assert await store.warehouse("zz") is None
    renamed = msgspec.structs.replace(b, name="Gudang B baru", active=False)
    await store.put_warehouse(renamed)
    assert await store.warehouse("w-b") == renamed
    with pytest.raises(Conflict):
        await store.put_warehouse(Warehouse(id="w-c", code="a", name="Duplikat kode"))


async def test_users_and_assignments(store: Storage) -> None:
    await store.put_warehouse(Warehouse(id="w1", code="w1", name="Gudang 1"))
    await store.put_warehouse(Warehouse(id="w2", code="w2", name="Gudang 2"))
    data = UserInput(
        username="slamet", full_name="Slamet Riyadi", agency="POLRI", rank="Aipda", warehouses=["w1"]
    )
    user = await store.create_user("u1", data, "hash-1")
    assert (user.username, user.rank, user.warehouses, user.disabled) == ("slamet", "Aipda", ["w1"], False)
    with pytest.raises(Conflict):
        await store.create_user("u2", msgspec.structs.replace(data, username="SLAMET"), "h")
    assert await store.user_by_username("Slamet") == (user, "hash-1")
    assert await store.user_by_username("nobody") is None
    await store.assign("u1", ["w1", "w2"])
    await store.set_password("u1", "hash-2")
    await store.set_disabled("u1", True)
    found = await store.user_by_username("slamet")
    assert found is not None
    assert found[1] == "hash-2"
    assert found[0].warehouses == ["w1", "w2"] and found[0].disabled
    assert [u.id for u in await store.users_in_warehouse("w2")] == ["u1"]
    assert [u.id for u in await store.users()] == ["u1"]
    with pytest.raises(StorageError, match="unknown warehouse"):
        await store.assign("u1", ["w9"])
    assert (await store.user("u1")).warehouses == ["w1", "w2"]  # type: ignore[union-attr]
    with pytest.raises(StorageError):
        await store.set_disabled("nobody", True)


async def test_devices_and_tokens(store: Storage) -> None:
    await store.create_user("u1", UserInput(username="joko", full_name="Joko", agency="TNI"), "h")

    def device(n: int, client_id: str) -> Device:
        return Device(
            id=f"d{n}",
            user_id="u1",
            name=f"HP {n}",
            client_id=client_id,
            created_at=f"2024-02-1{n}T00:00:00.000Z",
            last_seen=f"2024-02-1{n}T00:00:00.000Z",
            expires_at="2099-01-01T00:00:00.000Z",
        )

    await store.create_device(device(1, "client-aaaa"), "hash-1")
    await store.create_device(device(2, "client-bbbb"), "hash-2")
    with pytest.raises(Conflict):
        await store.create_device(device(3, "client-cccc"), "hash-1")
    assert await store.device_by_token("hash-1") == device(1, "client-aaaa")
    assert await store.device_by_token("nope") is None
    await store.touch_devices([])  # nothing to write
    await store.touch_devices(
        [
            ("d1", "2024-03-01T00:00:00.000Z"),
            ("d2", "2024-03-02T00:00:00.000Z"),
            ("d-unknown", "2024-03-02T00:00:00.000Z"),  # skipped
            ("d2", "2024-03-01T12:00:00.000Z"),  # the later time of a device wins, in any order
        ]
    )
    await store.touch_devices([("d1", "2024-02-01T00:00:00.000Z")])  # never moves back
    assert (await store.device_by_token("hash-1")).last_seen == "2024-03-01T00:00:00.000Z"  # type: ignore[union-attr]
    assert (await store.device_by_token("hash-2")).last_seen == "2024-03-02T00:00:00.000Z"  # type: ignore[union-attr]
    assert await store.client_owners("client-aaaa") == {"u1"}
    assert await store.client_owners("client-zzzz") == set()
    assert await store.revoke_devices("u1", "2024-03-02T00:00:00.000Z", client_id="client-bbbb") == 1
    assert (await store.device_by_token("hash-2")).revoked  # type: ignore[union-attr]
    assert not (await store.device_by_token("hash-1")).revoked  # type: ignore[union-attr]
    assert await store.revoke_device("d1", "2024-03-03T00:00:00.000Z") is True
    assert await store.revoke_device("d1", "2024-03-04T00:00:00.000Z") is False
    assert [d.id for d in await store.devices("u1")] == ["d1", "d2"]
    assert await store.revoke_devices("u1", "2024-03-05T00:00:00.000Z") == 0


async def test_device_and_user_by_token_in_one_read(store: Storage) -> None:
    for wid in ("w-b", "w-a", "w-c"):
        await store.put_warehouse(Warehouse(id=wid, code=f"code_{wid[-1]}", name=f"Gudang {wid}"))
    joko = await store.create_user(
        "u1", UserInput(username="joko", full_name="Joko", agency="TNI", warehouses=["w-c", "w-a"]), "h"
    )
    device = Device(
        id="d1",
        user_id="u1",
        name="HP Joko",
        client_id="client-aaaa",
        created_at="2024-02-11T00:00:00.000Z",
        last_seen="2024-02-11T00:00:00.000Z",
        expires_at="2099-01-01T00:00:00.000Z",
    )
    await store.create_device(device, "hash-1")
    assert await store.device_and_user("hash-1") == (device, joko)
    assert joko.warehouses == ["w-a", "w-c"]
    assert await store.device_and_user("nope") is None
    await store.assign("u1", ["w-b"])
    await store.set_disabled("u1", True)
    found = await store.device_and_user("hash-1")
    assert found is not None and found[1] == await store.user("u1")
    assert found[1].warehouses == ["w-b"] and found[1].disabled
    await store.assign("u1", [])
    found = await store.device_and_user("hash-1")
    assert found is not None and found[1].warehouses == []


async def test_templates_and_stock_items(store: Storage) -> None:
    v1 = msgspec.structs.replace(load_template(), id="gudang_logistik-v1", version=1)
    v2 = msgspec.structs.replace(
        v1, id="gudang_logistik-v2", version=2, title={"id": "Versi 2", "en": "Version 2"}
    )
    draft = msgspec.structs.replace(v1, id="gudang_logistik-v3", version=3)
    await store.put_template(v1)
    await store.put_template(v2)
    await store.put_template(draft, published=False)
    assert await store.current_template("gudang_logistik") == v2
    assert await store.get_template(draft.id) == draft
    assert await store.current_template("lainnya") is None
    with pytest.raises(Conflict):
        await store.put_template(v1)
    with pytest.raises(StorageError):
        await store.put_template(msgspec.structs.replace(v1, id=""))

    await store.put_stock_item_type(StockItemType(code="tinta", name="Tinta", unit="botol", sort_order=2))
    await store.put_stock_item_type(
        StockItemType(code="kotak_suara", name="Kotak", unit="buah", sort_order=1)
    )
    await store.put_stock_item_type(
        StockItemType(code="kotak_suara", name="Kotak suara", unit="buah", sort_order=1)
    )
    assert [(i.code, i.name) for i in await store.stock_item_types()] == [
        ("kotak_suara", "Kotak suara"),
        ("tinta", "Tinta"),
    ]


# -- failed-login throttling -----------------------------------------------------------------------
T0 = 1_700_000_000.0


async def fail(store: Storage, key: str, now: float, limit: int = 3, window_s: float = 600) -> None:
    await store.record_login_failure(
        key, now=now, limit=limit, window_s=window_s, lockout_s=30, max_lockout_s=100
    )


async def test_login_failures_count_in_a_window_lock_double_and_clear(store: Storage) -> None:
    assert await store.login_locked_until([]) == 0.0
    assert await store.login_locked_until(["user:nobody"]) == 0.0
    await fail(store, "user:budi", T0)
    await fail(store, "user:budi", T0 + 10)
    assert await store.login_locked_until(["user:budi"]) == 0.0
    await fail(store, "user:budi", T0 + 600)  # the window (opened at T0) is over: counts as the first
    await fail(store, "user:budi", T0 + 601)
    assert await store.login_locked_until(["user:budi", "addr:x"]) == 0.0
    await fail(store, "user:budi", T0 + 602)  # the third within the window: locked for 30 s
    assert await store.login_locked_until(["user:budi", "addr:x"]) == T0 + 632
    for i in range(3):
        await fail(store, "user:budi", T0 + 700 + i)
    assert await store.login_locked_until(["user:budi"]) == T0 + 702 + 60  # doubled
    for i in range(3):
        await fail(store, "user:budi", T0 + 800 + i)
    assert await store.login_locked_until(["user:budi"]) == T0 + 802 + 100  # at most max_lockout_s
    await fail(store, "addr:x", T0 + 900, limit=1)  # a limit of one locks at the first failure
    assert await store.login_locked_until(["user:budi", "addr:x"]) == T0 + 930
    await store.clear_login_failures("user:budi")
    await store.clear_login_failures("user:never-seen")
    assert await store.login_locked_until(["user:budi"]) == 0.0
    for i in range(3):
        await fail(store, "user:budi", T0 + 1000 + i)
    assert await store.login_locked_until(["user:budi"]) == T0 + 1002 + 30  # lockouts cleared too
    await fail(store, "user:a\x00b", T0, limit=1)  # any text is a key
    assert await store.login_locked_until(["user:a\x00b"]) == T0 + 30


async def test_pruning_login_failures_forgets_quiet_keys_and_never_a_locked_one(store: Storage) -> None:
    await fail(store, "user:old", T0)
    await fail(store, "user:locked", T0, limit=1)
    await fail(store, "user:a", T0 + 10)
    await fail(store, "user:b", T0 + 20)
    await fail(store, "user:c", T0 + 30)
    assert await store.prune_login_failures(now=T0 + 25, quiet_before=T0 + 5, keep=10) == 1  # old
    assert await store.login_locked_until(["user:locked"]) == T0 + 30
    # Over `keep`, the unlocked keys whose last failure is oldest go first.
    await fail(store, "user:a", T0 + 40)
    assert await store.prune_login_failures(now=T0 + 25, quiet_before=T0, keep=2) == 2  # b, c
    await fail(store, "user:a", T0 + 41)  # a's third failure (a was kept): locked
    assert await store.login_locked_until(["user:a"]) == T0 + 71
    assert await store.prune_login_failures(now=T0 + 50, quiet_before=T0 + 50, keep=0) == 1  # locked
    assert await store.login_locked_until(["user:a", "user:locked"]) == T0 + 71
    assert await store.prune_login_failures(now=T0 + 80, quiet_before=T0 + 80, keep=0) == 1
    assert await store.login_locked_until(["user:a", "user:locked"]) == 0.0


async def test_login_failures_are_shared_by_storages_on_one_database_and_kept_on_reopening(
    build: Callable[[Path], Storage], tmp_path: Path
) -> None:
    """Two storages on one database are two server processes: failures recorded at both at once
    all count, and a lockout recorded by one holds at the other and after both are closed."""
    first, second = build(tmp_path), build(tmp_path)
    await first.open()
    await second.open()
    try:
        await asyncio.gather(
            *(
                (first if i % 2 else second).record_login_failure(
                    "user:budi", now=T0 + i / 100, limit=50, window_s=600, lockout_s=30, max_lockout_s=3600
                )
                for i in range(50)
            )
        )
        assert await first.login_locked_until(["user:budi"]) == await second.login_locked_until(["user:budi"])
        assert await second.login_locked_until(["user:budi"]) > T0 + 30  # the 50th failure locked
    finally:
        await first.close()
        await second.close()
    third = build(tmp_path)
    await third.open(create=False)
    try:
        assert T0 + 30 < await third.login_locked_until(["user:budi"]) <= T0 + 31
    finally:
        await third.close()


# -- the real engine on this backend ---------------------------------------------------------------
async def test_the_sync_engine_pushes_and_pulls_through_the_backend(store: Storage) -> None:
    await store.put_warehouse(Warehouse(id="w1", code="w1", name="Gudang"))
    actor = Actor(user_id="u1", username="budi", role="officer", agency="POLRI", warehouses=frozenset({"w1"}),
                  client_id="client-0001")  # fmt: skip
    engine = SyncEngine(store)

    def mutation(
        seq: int, record_id: str, op: str = "create", base_rev: int = 0, **fields: object
    ) -> Mutation:
        return Mutation(
            seq=seq, id=record_id, collection="incidents", op=op, base_rev=base_rev,  # type: ignore[arg-type]
            warehouse_id="w1" if op == "create" else None, fields=dict(fields),
            hlc=format_hlc(1_700_000_000_000 + seq, 0, "client-0001"),
        )  # fmt: skip

    request = PushRequest(
        protocol=1,
        client_id="client-0001",
        schema_version=2,
        mutations=[
            mutation(1, "inc-1", category="segel_rusak", severity="tinggi", description="Segel sobek",
                     photos=[SHA_B]),
            mutation(2, "inc-1", op="patch", base_rev=1, title="Segel pintu sobek"),
        ],
    )  # fmt: skip
    response = await engine.push(actor, request)
    assert [r.status for r in response.results] == ["applied", "applied"]
    assert response.results[0].pending_attachments == [SHA_B]
    again = await engine.push(actor, request)
    assert [r.replayed for r in again.results] == [True, True]

    pulled = await engine.pull(actor, PullRequest(protocol=1, client_id="client-0001"))
    [change] = pulled.changes
    assert change.fields["title"] == "Segel pintu sobek" and change.revision == 2
    assert pulled.cursors == {"w1": 2}
    assert pulled.digests["w1"].count == 1
    assert pulled.reflected_seq == 2
    assert pulled.missing_attachments == [SHA_B]
    assert await broken_chain(store) is None


# -- overview summaries ----------------------------------------------------------------------------
async def test_each_warehouses_summary_holds_after_its_pushes_and_equals_a_fold_from_scratch(
    store: Storage,
) -> None:
    """After every kind of push (creates in two warehouses, patches, a delete, a retry answered from
    the stored outcomes, a batch rolled back, a push writing only records no summary reads), each
    written warehouse's summary that held before still holds after (the push applied its changes to
    it, or moved it on) and is the fold of its records now; once the overview has read them, every
    one holds and is."""
    for wid in ("w1", "w2"):
        await store.put_warehouse(Warehouse(id=wid, code=wid, name=f"Gudang {wid}"))
    actor = Actor(user_id="u1", username="budi", role="officer", agency="POLRI",
                  warehouses=frozenset({"w1", "w2"}), client_id="client-0001")  # fmt: skip
    engine = SyncEngine(store)
    seqs = itertools.count(1)

    def mutation(
        record_id: str, op: str = "create", base_rev: int = 0, wid: str = "w1", **fields: object
    ) -> Mutation:
        seq = next(seqs)
        return Mutation(
            seq=seq, id=record_id, collection="incidents", op=op, base_rev=base_rev,  # type: ignore[arg-type]
            warehouse_id=wid if op == "create" else None, fields=dict(fields),
            hlc=format_hlc(1_700_000_000_000 + seq, 0, "client-0001"),
        )  # fmt: skip

    def incident(n: int, severity: str) -> dict[str, object]:
        return {"category": "segel_rusak", "severity": severity, "description": f"Segel {n} sobek",
                "occurred_at": "2024-02-14T01:00:00Z"}  # fmt: skip

    async def push(*mutations: Mutation) -> list[MutationResult]:
        request = PushRequest(
            protocol=1, client_id="client-0001", schema_version=2, mutations=list(mutations)
        )
        return list((await engine.push(actor, request)).results)

    async def open_incidents(wid: str) -> dict[str, int]:
        stored = await store.warehouse_summaries([wid])
        items = summaries.items_key(await store.stock_item_types())
        return dict(summaries.valid_folds(stored, items)[wid].incidents)

    first = [
        mutation("inc-1", **incident(1, "kritis")),  # type: ignore[arg-type]
        mutation("inc-2", **incident(2, "tinggi")),  # type: ignore[arg-type]
        mutation("inc-3", wid="w2", **incident(3, "sedang")),  # type: ignore[arg-type]
    ]
    assert {r.status for r in await push(*first)} == {"applied"}
    await assert_summaries_are_folds(store, ["w1", "w2"])
    assert await open_incidents("w1") == {"kritis": 1, "tinggi": 1}

    second = [mutation("inc-1", op="patch", base_rev=1, action_taken="Segel diganti"),
              mutation("inc-2", op="delete", base_rev=2)]  # fmt: skip
    assert {r.status for r in await push(*first, *second)} == {"applied"}
    await assert_summaries_are_folds(store, ["w1", "w2"], held=["w1", "w2"])
    assert await open_incidents("w1") == {"kritis": 1}, "the deleted incident is no longer open"

    # The same batch again (its answer was lost): replayed, nothing written, the summaries hold.
    again = await push(*first, *second)
    assert {r.replayed for r in again} == {True}
    await assert_summaries_are_folds(store, ["w1", "w2"], held=["w1", "w2"])

    # A batch rolled back after its commit() was built takes its summary rows with it.
    before = await store.warehouse_summaries(["w1", "w2"])
    with pytest.raises(RuntimeError, match="boom"):
        async with store.write() as tx:
            r = msgspec.structs.replace(record("inc-9", await revision(tx) + 1), fields=incident(9, "kritis"))
            await tx.commit(effects(r, client_id="client-0002", last_seq=1))
            raise RuntimeError("boom")
    assert await store.warehouse_summaries(["w1", "w2"]) == before
    await assert_summaries_are_folds(store, ["w1", "w2"], held=["w1", "w2"])

    # A write of records no summary is folded from moves the summary along with the counter.
    async with store.write() as tx:
        seal = msgspec.structs.replace(
            record("seal-1", await revision(tx) + 1), collection="seals", fields={}
        )
        await tx.commit(effects(seal, client_id="client-0002", last_seq=1))
    moved = await store.warehouse_summaries(["w1"])
    assert moved["w1"].revision == before["w1"].revision + 1 and moved["w1"].summary == before["w1"].summary
    await assert_summaries_are_folds(store, ["w1", "w2"], held=["w1", "w2"])
    assert await open_incidents("w1") == {"kritis": 1}
