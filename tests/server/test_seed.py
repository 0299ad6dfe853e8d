"""The bundled template and stock item types, and the demo data."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import httpx
import msgspec
import pytest

from server import cli
from server.api.admin import check_template
from server.audit import verify_log
from server.seed import TEMPLATES_DIR, install_reference_data, load_stock_items, load_template, load_templates
from server.seed.demo import DEMO_MARK, DEMO_PASSWORD, JB, SN, USERS, WAREHOUSES, NotADemoDatabase, seed_demo
from server.storage import Storage
from server.storage.sqlite import SqliteStorage
from sync.collections import INCIDENT_STATUSES, INSPECTION_STATUSES
from sync.domain import Template, text_in
from sync.roster import attendance_of, missing_pillars, planned_people
from tests.factories import FAST_PASSWORDS, Factory, bearer, every_audit_row


def test_the_template_decodes_as_a_sync_template() -> None:
    v1 = msgspec.json.decode((TEMPLATES_DIR / "gudang_logistik-v1.json").read_bytes(), type=Template)
    assert (v1.id, v1.code, v1.version) == ("gudang_logistik-v1", "gudang_logistik", 1)
    template = load_template()
    assert (template.id, template.version) == ("gudang_logistik-v2", 2)
    assert [t.id for t in load_templates()] == ["gudang_logistik-v1", "gudang_logistik-v2"]
    assert template.title == {
        "id": "Pemeriksaan Gudang Logistik Pemilu",
        "en": "Election Logistics Warehouse Inspection",
    }
    titles = [text_in(s.title) for s in template.sections]
    assert (
        titles
        == [s.title for s in v1.sections]
        == [
            "Kunjungan & regu jaga",
            "Akses & penguncian",
            "CCTV & listrik",
            "Kondisi gedung & K3",
            "Logistik",
            "Temuan & tindak lanjut",
            "Personel pos jaga",
        ]
    )


def test_template_items_are_consistent() -> None:
    template = load_template()
    items = template.items()
    codes = [i.code for i in items]
    assert len(codes) == len(set(codes)), "item codes must be unique"
    kinds = {i.kind for i in items}
    assert kinds == {"yes_no", "number", "text", "seal", "choice", "photo"}
    stock_codes = {s.code for s in load_stock_items()}
    for item in items:
        if item.kind == "yes_no":
            assert set(item.finding_if) <= {"ya", "tidak", "na"}, item.code
        if item.kind == "choice":
            assert item.choices and set(item.finding_if) <= set(item.choices), item.code
        if item.stock_item:
            assert item.kind == "number" and item.stock_item in stock_codes, item.code
    by_code = {i.code: i for i in items}
    assert by_code["segel_pintu_utuh"].finding_if == ["tidak"] and by_code["segel_pintu_utuh"].required
    assert by_code["nomor_segel_pintu"].kind == "seal"
    assert by_code["atap_tidak_bocor"].finding_if == ["tidak"] and "atap_bocor" not in by_code
    assert {i.stock_item for i in items if i.stock_item} == stock_codes


def test_the_published_template_has_every_text_in_both_languages_and_ya_is_always_good() -> None:
    """Version 2 passes the rules an uploaded template must pass (labels per language for every
    section, item, choice, help and unit), and every yes/no question is asked so that "Ya" is the
    good answer: a tired officer tapping "Ya" down the list never makes a false finding."""
    template = load_template()
    assert check_template(template) == []
    for item in template.items():
        if item.kind == "yes_no":
            assert item.finding_if == ["tidak"], item.code
    v1 = load_templates()[0]
    assert {i.code for i in v1.items() if i.finding_if == ["ya"]} == {
        "atap_bocor",
        "genangan_air",
        "ruangan_lembap",
        "ada_rayap_hama",
    }, "version 1 stays as published: old inspections keep it"


async def test_reference_data_is_installed_once(storage: SqliteStorage) -> None:
    assert len(await install_reference_data(storage)) == len(load_templates()) + len(load_stock_items())
    assert await install_reference_data(storage) == []
    assert await storage.current_template("gudang_logistik") == load_template()


async def seeded(storage: SqliteStorage) -> list[Any]:
    async with storage.read() as rx:
        return [r for w in WAREHOUSES for r in await rx.changes(w.id, 0, 10_000)]


async def test_demo_data_tells_a_story(storage: SqliteStorage) -> None:
    result = await seed_demo(storage, today=date(2024, 11, 20), passwords=FAST_PASSWORDS)
    assert not result.already
    records = await seeded(storage)
    by_collection: dict[str, list[Any]] = {}
    for r in records:
        by_collection.setdefault(r.collection, []).append(r)
    inspections = by_collection["inspections"]
    assert {r.fields["status"] for r in inspections} == set(INSPECTION_STATUSES)
    assert {r.fields["status"] for r in by_collection["incidents"]} == set(INCIDENT_STATUSES)
    assert any(r.fields.get("findings") for r in inspections)
    assert any(r.fields.get("status") == "reviewed" and not r.fields.get("findings") for r in inspections)
    assert len(by_collection["stock_levels"]) == len(WAREHOUSES) * len(load_stock_items())
    assert by_collection["stock_counts"]
    assert {r.warehouse_id for r in records} == {w.id for w in WAREHOUSES}
    assert all("2024-11-14" <= r.created_at[:10] <= "2024-11-20" for r in records)
    senen = [r for r in inspections if r.warehouse_id == SN]
    assert "segel_pintu_utuh" in senen[0].fields["findings"]
    # Every photo the records reference was stored.
    hashes = {h for r in records for k, v in r.fields.items() if k.startswith("p.") for h in v}
    assert hashes and await storage.attachments_present(sorted(hashes)) == hashes
    assert all((storage.data_dir / f"attachments/{h[:2]}/{h}").is_file() for h in hashes)
    assert (await verify_log(storage)).ok
    users = await storage.users()
    assert {u.username for u in users} == {u.username for u in USERS}
    assert {u.agency for u in users} >= {"POLRI", "TNI", "SATPOL_PP", "DISHUB", "FKDM", "KPU"}


async def test_demo_seed_runs_once(storage: SqliteStorage) -> None:
    await seed_demo(storage, today=date(2024, 11, 20), passwords=FAST_PASSWORDS)
    before = await seeded(storage)
    again = await seed_demo(storage, today=date(2024, 11, 21), passwords=FAST_PASSWORDS)
    assert again.already and "already present" in again.describe()
    assert await seeded(storage) == before


async def test_demo_users_can_log_in_and_see_their_warehouse(
    client: httpx.AsyncClient, storage: SqliteStorage
) -> None:
    await seed_demo(storage, today=date(2024, 11, 20), passwords=FAST_PASSWORDS)
    login = await client.post(
        "/api/auth/login",
        json={
            "username": "slamet",
            "password": DEMO_PASSWORD,
            "device_name": "HP",
            "client_id": "hp-slamet-01",
        },
    )
    assert login.status_code == 200
    token = login.json()["token"]
    warehouses = (await client.get("/api/warehouses", headers=bearer(token))).json()
    assert [w["id"] for w in warehouses] == [JB]
    assert warehouses[0]["floor_room"] == "Kantor Kecamatan Johar Baru lantai 4"
    colleagues = (
        await client.get("/api/users/colleagues", params={"warehouse_id": JB}, headers=bearer(token))
    ).json()
    assert {"POLRI", "TNI", "SATPOL_PP", "DISHUB", "FKDM", "KPU"} <= {c["agency"] for c in colleagues}


async def test_two_processes_installing_reference_data_at_once_both_start(storage: Storage) -> None:
    """Two servers starting together both see no template and both insert it: the second must not
    fail (it used to exit with "template ... already exists")."""
    results = await asyncio.gather(install_reference_data(storage), install_reference_data(storage))
    assert sum(f"template {load_template().id}" in added for added in results) == 1
    assert await storage.get_template(load_template().id) == load_template()


# -- seed-demo writes only to a database of its own, and audits all it writes ----------------------------
async def test_seed_demo_refuses_a_database_with_accounts_it_did_not_make(
    storage: Storage, factory: Factory, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await factory.user(username="operator", role="admin")
    with pytest.raises(NotADemoDatabase, match="not a demo database"):
        await seed_demo(storage, passwords=FAST_PASSWORDS)
    assert [u.username for u in await storage.users()] == ["operator"]
    assert await storage.warehouses() == [] and await storage.audit_head() is None
    assert await storage.database_mark(DEMO_MARK) is None
    # The command says so and fails.
    assert await asyncio.to_thread(cli.main, ["seed-demo", "--database", database_url]) == 1
    assert "not a demo database" in capsys.readouterr().err
    assert len(await storage.users()) == 1


async def test_seed_demo_refuses_a_demo_database_that_got_real_accounts(
    storage: Storage, factory: Factory
) -> None:
    await seed_demo(storage, today=date(2024, 11, 20), passwords=FAST_PASSWORDS)
    await factory.user(username="operator")
    with pytest.raises(NotADemoDatabase, match="operator"):
        await seed_demo(storage, passwords=FAST_PASSWORDS)


async def test_everything_seed_demo_writes_is_audited_in_time_order(storage: Storage, sql_rows: Any) -> None:
    await seed_demo(storage, today=date(2024, 11, 20), passwords=FAST_PASSWORDS)
    rows = [row for row in await every_audit_row(storage)]
    kinds = [r.entry.kind for r in rows]
    users, warehouses = await storage.users(), await storage.warehouses()
    # The system chain holds what is about no warehouse, from the mark to the summary.
    system = [row.entry.kind async for row in storage.audit_rows("")]
    assert system[:2] == ["demo.marked", "reference_data.installed"] and system[-1] == "demo.seeded"
    assert sorted(r.entry.subject for r in rows if r.entry.kind == "user.created") == sorted(
        u.id for u in users
    )
    assert sorted(r.entry.subject for r in rows if r.entry.kind == "warehouse.created") == sorted(
        w.id for w in warehouses
    )
    [(outcomes,)] = sql_rows("SELECT count(*) FROM outcomes")
    assert kinds.count("mutation") == outcomes > 0
    photos = {h for r in rows if r.entry.kind == "demo.seeded" for h in r.entry.detail["photos"]}
    assert photos and await storage.attachments_present(sorted(photos)) == photos
    # No chain's times go back. The system chain is written now; each warehouse's chain begins with
    # the seeded history's pushes, at the times the seed gives them.
    for chain_name in await storage.audit_chains():
        times = [row.entry.at async for row in storage.audit_rows(chain_name)]
        assert times == sorted(times)
        if chain_name == "":
            assert times[0] > "2024-11-21"
    report = await verify_log(storage)
    assert report.ok and report.formats == {3: len(rows)}


async def test_demo_guard_post_has_a_week_of_shifts_an_absence_and_a_seal_mismatch(
    storage: SqliteStorage,
) -> None:
    await seed_demo(storage, today=date(2024, 11, 20), passwords=FAST_PASSWORDS)
    records = await seeded(storage)
    shifts = [r for r in records if r.collection == "shifts"]
    handovers = {r.id: r for r in records if r.collection == "handovers"}
    assert {(r.warehouse_id, r.fields["date"]) for r in shifts} == {
        (w.id, f"2024-11-{d}") for w in WAREHOUSES for d in range(14, 21)
    }
    names = {u.id: u.username for u in await storage.users()}
    now = datetime(2024, 11, 21, tzinfo=UTC)
    absent, late = [], []
    for shift in shifts:
        night = shift.id == f"sh.{JB}.2024-11-18.malam"  # its only TNI member never came
        assert missing_pillars(shift.fields, now) == (["TNI"] if night else []), shift.id
        for person in planned_people(shift.fields):
            state = attendance_of(shift.fields, person, now)
            if state == "absent":
                absent.append((shift.id, names[person]))
            elif state == "late":
                late.append((shift.id, names[person]))
    assert absent == [(f"sh.{JB}.2024-11-18.malam", "wahyu")] and late == [
        (f"sh.{JB}.2024-11-19.pagi", "dedi")
    ]
    # ... but the TNI of that night: its only TNI member never came.
    [night] = [s for s in shifts if s.id == f"sh.{JB}.2024-11-18.malam"]
    assert missing_pillars(night.fields, now) == ["TNI"] or night.fields["personnel"]["TNI"] == [
        night.fields["commander"]
    ]
    # Every shift but each warehouse's last hands over, confirmed by both commanders.
    assert len(handovers) == len(shifts) - len(WAREHOUSES)
    assert all(
        h.fields["status"] == "confirmed" and len(h.fields["confirmations"]) == 2 for h in handovers.values()
    )
    findings = {h.id: h.fields["findings"] for h in handovers.values() if h.fields["findings"]}
    assert findings == {f"ho.{JB}.2024-11-19.siang": ["nomor_segel_pintu"]}
