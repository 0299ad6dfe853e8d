"""Berita acara numbers: given by the server at submission, per warehouse and local year, each
number once, with no gap (a refused submit takes none; a resubmission keeps its number)."""

from __future__ import annotations

from sync.engine import SyncEngine
from sync.memory import MemoryStore
from sync.rules import local_year, report_number
from tests.sync.helpers import OTHER_WH, TEMPLATE, WH, Phone, actor

READY = {"template_id": TEMPLATE.id, "a.segel_pintu": "ya", "a.nomor_segel": "KPU 1", "a.kotak_suara": 40}


def inspection(phone: Phone, record_id: str, warehouse: str = WH, **fields: object) -> None:
    phone.mutate("create", record_id, "inspections", {**READY, **fields}, warehouse_id=warehouse)


async def test_numbers_follow_each_other_per_warehouse_and_a_refused_submit_takes_none(
    store: MemoryStore,
) -> None:
    store.warehouse_codes = {WH: "johar_baru", OTHER_WH: "senen"}
    engine = SyncEngine(store, now=lambda: "2026-03-02T01:00:00.000Z")
    sari = Phone(engine, actor("sari", warehouses=(WH, OTHER_WH)))
    inspection(sari, "a")
    inspection(sari, "incomplete", **{"a.segel_pintu": None})
    inspection(sari, "b")
    inspection(sari, "elsewhere", OTHER_WH)
    for record_id in ("a", "incomplete", "b", "elsewhere"):
        sari.mutate("submit", record_id, "inspections")
    response = await sari.push()
    assert [r.status for r in response.results[4:]] == ["applied", "rejected", "applied", "applied"]
    await sari.pull()
    numbers = {k: sari.replica[k].fields.get("report_number") for k in ("a", "incomplete", "b", "elsewhere")}
    assert numbers == {
        "a": "BA/JOHAR-BARU/2026/0001",
        "incomplete": None,
        "b": "BA/JOHAR-BARU/2026/0002",
        "elsewhere": "BA/SENEN/2026/0001",
    }
    # The refused one, completed and submitted later, takes the next number: no gap, no duplicate.
    sari.mutate("patch", "incomplete", "inspections", {"a.segel_pintu": "ya"})
    sari.mutate("submit", "incomplete", "inspections")
    await sari.sync()
    assert sari.replica["incomplete"].fields["report_number"] == "BA/JOHAR-BARU/2026/0003"
    assert store.report_counters == {(WH, 2026): 3, (OTHER_WH, 2026): 1}


async def test_a_resubmitted_inspection_keeps_its_number(engine: SyncEngine, store: MemoryStore) -> None:
    sari, budi = Phone(engine, actor("sari")), Phone(engine, actor("budi", role="supervisor"))
    inspection(sari, "a")
    sari.mutate("submit", "a", "inspections")
    await sari.sync()
    first = sari.replica["a"].fields["report_number"]
    await budi.pull()
    budi.mutate("request_changes", "a", "inspections", {"comment": "Lengkapi foto"})
    await budi.sync()
    await sari.pull()
    sari.mutate("submit", "a", "inspections")
    await sari.sync()
    assert sari.replica["a"].fields["report_number"] == first
    assert list(store.report_counters.values()) == [1]


def test_the_year_is_the_local_one_and_numbers_read_like_a_berita_acara() -> None:
    assert local_year("2026-12-31T17:30:00.000Z", 7) == 2027  # 00.30 WIB on 1 January
    assert local_year("2026-12-31T16:30:00.000Z", 7) == 2026
    assert local_year("2026-12-31T15:30:00.000Z", 9) == 2027  # WIT
    assert report_number("johar_baru", 2026, 42) == "BA/JOHAR-BARU/2026/0042"
    assert report_number("jb", 2026, 12345) == "BA/JB/2026/12345"
