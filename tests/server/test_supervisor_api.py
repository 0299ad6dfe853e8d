"""Supervisor endpoints: role and scope guards of every one, and what each answers over the demo
data (server/seed/demo.py: hendra supervises Johar Baru and Cempaka Putih, rina all four)."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from server.models import StockItemType, User, Warehouse
from server.seed.demo import seed_demo
from server.storage.sqlite import SqliteStorage
from tests.factories import FAST_PASSWORDS, Factory, bearer

JB, CP, KM, SN = "gd-johar-baru", "gd-cempaka-putih", "gd-kemayoran", "gd-senen"

SUPERVISOR_GETS = [
    "/api/supervisor/overview",
    "/api/supervisor/people",
    "/api/supervisor/inspections",
    "/api/supervisor/incidents",
    "/api/supervisor/conflicts",
    "/api/supervisor/stock",
    "/api/supervisor/charts",
    "/api/supervisor/audit",
    "/api/exports/inspections.csv",
    "/api/exports/answers.csv",
    "/api/exports/incidents.csv",
    "/api/exports/stock_counts.csv",
    "/api/live",
]
WITH_WAREHOUSE = [
    "/api/supervisor/inspections",
    "/api/supervisor/incidents",
    "/api/supervisor/conflicts",
    "/api/supervisor/stock",
    "/api/supervisor/charts",
    "/api/supervisor/audit",
    "/api/exports/inspections.csv",
    "/api/exports/answers.csv",
    "/api/exports/incidents.csv",
    "/api/exports/stock_counts.csv",
]


@pytest.fixture
async def demo(storage: SqliteStorage) -> dict[str, User]:
    await seed_demo(storage, passwords=FAST_PASSWORDS)
    return {u.username: u for u in await storage.users()}


async def tokens(factory: Factory, demo: dict[str, User], *names: str) -> dict[str, dict[str, str]]:
    return {name: bearer(await factory.token(demo[name])) for name in names}


@pytest.mark.parametrize("path", SUPERVISOR_GETS)
async def test_every_supervisor_endpoint_needs_a_login_and_a_supervisor_role(
    client: httpx.AsyncClient, factory: Factory, demo: dict[str, User], path: str
) -> None:
    auth = await tokens(factory, demo, "slamet")
    assert (await client.get(path)).status_code == 401
    response = await client.get(path, headers=auth["slamet"])
    assert response.status_code == 403 and response.json()["code"] == "forbidden"


@pytest.mark.parametrize("path", WITH_WAREHOUSE)
async def test_a_warehouse_outside_the_supervisors_scope_is_refused(
    client: httpx.AsyncClient, factory: Factory, demo: dict[str, User], path: str
) -> None:
    auth = await tokens(factory, demo, "hendra")
    response = await client.get(path, params={"warehouse_id": SN}, headers=auth["hendra"])
    assert response.status_code == 403 and response.json()["code"] == "out_of_scope"
    assert (await client.get(path, params={"warehouse_id": JB}, headers=auth["hendra"])).status_code == 200


async def test_the_overview_shows_only_assigned_warehouses_and_an_unassigned_admin_sees_all(
    client: httpx.AsyncClient, factory: Factory, demo: dict[str, User]
) -> None:
    auth = await tokens(factory, demo, "hendra", "rina", "admin")
    seen = {}
    for name in auth:
        body = (await client.get("/api/supervisor/overview", headers=auth[name])).json()
        seen[name] = {row["warehouse"]["id"] for row in body["warehouses"]}
    assert seen == {"hendra": {JB, CP}, "rina": {JB, CP, KM, SN}, "admin": {JB, CP, KM, SN}}


async def test_the_overview_flags_what_needs_attention(
    client: httpx.AsyncClient, factory: Factory, demo: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = await tokens(factory, demo, "rina")
    monkeypatch.setenv("TIGAPILAR_INSPECTION_INTERVAL_HOURS", "1000")
    body = (await client.get("/api/supervisor/overview", headers=auth["rina"])).json()
    rows = {row["warehouse"]["id"]: row for row in body["warehouses"]}
    assert body["interval_hours"] == 1000 and body["revision"] > 0
    senen = rows[SN]
    assert senen["status"] == "critical" and senen["open_incidents"] == {"kritis": 1}
    assert set(senen["open_findings"]) == {"segel_pintu_utuh", "nomor_segel_sesuai"}
    assert rows[CP]["status"] == "ok" and not rows[CP]["overdue"]
    assert rows[JB]["drafts"] == 1 and rows[JB]["awaiting_review"] == 1
    assert [r["warehouse"]["id"] for r in body["warehouses"]][:2] in ([SN, KM], [KM, SN])  # most urgent first

    monkeypatch.setenv("TIGAPILAR_INSPECTION_INTERVAL_HOURS", "0.01")
    overdue = (
        await client.get("/api/supervisor/overview", params={"status": "overdue"}, headers=auth["rina"])
    ).json()
    assert {r["warehouse"]["id"] for r in overdue["warehouses"]} == {JB, CP, KM, SN}
    tni = (
        await client.get(
            "/api/supervisor/overview",
            params={"agency": "TNI", "kecamatan": "johar baru"},
            headers=auth["rina"],
        )
    ).json()
    assert [r["warehouse"]["id"] for r in tni["warehouses"]] == [JB]
    assert tni["warehouses"][0]["last_inspection"]["agency"] == "TNI"


async def test_inspection_detail_has_template_counts_and_timeline_and_is_scoped(
    client: httpx.AsyncClient, factory: Factory, demo: dict[str, User]
) -> None:
    auth = await tokens(factory, demo, "hendra", "rina")
    listed = (
        await client.get("/api/supervisor/inspections", params={"warehouse_id": KM}, headers=auth["rina"])
    ).json()
    km_inspection = listed[0]["id"]
    refused = await client.get(f"/api/supervisor/inspections/{km_inspection}", headers=auth["hendra"])
    assert refused.status_code == 403 and refused.json()["code"] == "out_of_scope"
    assert (await client.get("/api/supervisor/inspections/nope", headers=auth["hendra"])).status_code == 404

    reviewed = (
        await client.get(
            "/api/supervisor/inspections",
            params={"warehouse_id": JB, "status": "reviewed"},
            headers=auth["hendra"],
        )
    ).json()
    first = reviewed[-1]["id"]
    detail = (await client.get(f"/api/supervisor/inspections/{first}", headers=auth["hendra"])).json()
    assert detail["record"]["fields"]["status"] == "reviewed"
    assert detail["template"]["id"] == detail["record"]["fields"]["template_id"]
    assert {c["fields"]["item_type"] for c in detail["stock_counts"]} == {"kotak_suara", "bilik_suara"}
    assert [e["detail"]["op"] for e in detail["timeline"]] == [
        "create",
        "confirm",
        "confirm",
        "submit",
        "review",
    ]


async def test_incident_queue_orders_open_first_with_times_to_acknowledge_and_resolve(
    client: httpx.AsyncClient, factory: Factory, demo: dict[str, User]
) -> None:
    auth = await tokens(factory, demo, "rina")
    rows = (await client.get("/api/supervisor/incidents", headers=auth["rina"])).json()
    assert [r["fields"]["status"] for r in rows] == ["open", "open", "acknowledged", "resolved"]
    assert rows[0]["fields"]["severity"] == "kritis"
    acknowledged, resolved = rows[2], rows[3]
    assert acknowledged["hours_to_acknowledge"] > 0 and acknowledged["hours_to_resolve"] is None
    assert resolved["hours_to_resolve"] >= resolved["hours_to_acknowledge"] > 0
    unresolved = (
        await client.get("/api/supervisor/incidents", params={"status": "unresolved"}, headers=auth["rina"])
    ).json()
    assert len(unresolved) == 3 and all(r["fields"]["status"] != "resolved" for r in unresolved)


async def test_stock_reconciliation_keeps_every_count_and_an_unreviewed_short_count_open(
    client: httpx.AsyncClient, factory: Factory, demo: dict[str, User]
) -> None:
    auth = await tokens(factory, demo, "hendra")
    lines = (
        await client.get("/api/supervisor/stock", params={"warehouse_id": JB}, headers=auth["hendra"])
    ).json()
    boxes = next(line for line in lines if line["item_type"] == "kotak_suara")
    assert boxes["expected"] == 356 and boxes["last"]["value"] == 356
    assert 354 in [c["value"] for c in boxes["history"]]  # the short count two days ago
    # ...is waiting for review (changes were requested): a later clean count does not hide it,
    # nor the three damaged boxes it reported.
    [short] = [c for c in boxes["open_counts"] if c["source"] == "stock_count"]
    assert short["value"] == 354 and short["expected"] == 356 and short["difference"] == -2
    assert short["by"] == demo["agus"].id and short["at"]
    assert boxes["discrepancy"] and boxes["damaged_light"] == 3
    assert {line["warehouse_id"] for line in lines} == {JB}


async def test_charts_count_inspections_findings_and_incidents(
    client: httpx.AsyncClient, factory: Factory, demo: dict[str, User]
) -> None:
    auth = await tokens(factory, demo, "rina")
    charts = (await client.get("/api/supervisor/charts", headers=auth["rina"])).json()
    assert len(charts["inspections_per_day"]["days"]) == 14
    total = sum(sum(s["values"]) for s in charts["inspections_per_day"]["series"])
    assert total == 7  # every submitted demo inspection
    sections = {s["section"]: s["count"] for s in charts["findings_by_section"]}
    assert sections["akses"] == 2 and sections["gedung_k3"] == 3
    categories = {s["key"] for s in charts["incidents_by_category"]["series"]}
    assert categories == {"cctv_mati", "kerusakan_logistik", "kebocoran_banjir", "segel_rusak"}
    bad = await client.get(
        "/api/supervisor/charts", params={"from": "2026-01-10", "to": "2026-01-01"}, headers=auth["rina"]
    )
    assert bad.status_code == 400


async def test_audit_search_by_person_and_scope(
    client: httpx.AsyncClient, factory: Factory, demo: dict[str, User]
) -> None:
    auth = await tokens(factory, demo, "hendra", "admin")
    page = (
        await client.get("/api/supervisor/audit", params={"q": "Slamet", "limit": 3}, headers=auth["hendra"])
    ).json()
    assert len(page["entries"]) == 3 and page["next_before"]
    assert all(e["actor_id"] == demo["slamet"].id for e in page["entries"])
    older = (
        await client.get(
            "/api/supervisor/audit",
            params={"q": "slamet", "before": page["next_before"]},
            headers=auth["hendra"],
        )
    ).json()
    assert older["entries"] and all(e["at"] <= page["entries"][-1]["at"] for e in older["entries"])
    assert not {e["hash"] for e in older["entries"]} & {e["hash"] for e in page["entries"]}
    everything = (
        await client.get("/api/supervisor/audit", params={"limit": 500}, headers=auth["hendra"])
    ).json()
    assert {e["warehouse_id"] for e in everything["entries"]} <= {JB, CP}
    admin_view = (
        await client.get("/api/supervisor/audit", params={"q": "auth.", "limit": 500}, headers=auth["admin"])
    ).json()
    assert admin_view["entries"] == [] or all(e["warehouse_id"] is None for e in admin_view["entries"])


async def test_audit_pages_cover_every_chain_once(
    client: httpx.AsyncClient, factory: Factory, demo: dict[str, User]
) -> None:
    # Ids are numbered per warehouse chain: paging by id alone skipped the entries of one
    # warehouse's chain while another's were shown. Small pages must add up to the whole trail.
    auth = await tokens(factory, demo, "hendra")
    whole = (await client.get("/api/supervisor/audit", params={"limit": 500}, headers=auth["hendra"])).json()
    assert whole["next_before"] is None
    assert {e["warehouse_id"] for e in whole["entries"]} == {JB, CP}
    paged: list[dict[str, Any]] = []
    before: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 7} | ({"before": before} if before else {})
        page = (await client.get("/api/supervisor/audit", params=params, headers=auth["hendra"])).json()
        paged += page["entries"]
        before = page["next_before"]
        if before is None:
            break

    def order(entries: list[dict[str, Any]]) -> list[tuple[str, int]]:
        return [(e["warehouse_id"], e["id"]) for e in entries]

    assert order(paged) == order(whole["entries"])
    assert [e["at"] for e in paged] == sorted((e["at"] for e in paged), reverse=True)
    for bad in ("x", "2026-01-01T00:00:00Z~0~gd", "2026~-1~", "~5~gd"):
        answer = await client.get("/api/supervisor/audit", params={"before": bad}, headers=auth["hendra"])
        assert answer.status_code == 400 and answer.json()["code"] == "invalid_cursor"


async def test_conflicts_and_rejected_mutations_are_listed_side_by_side(
    client: httpx.AsyncClient, factory: Factory, demo: dict[str, User]
) -> None:
    auth = await tokens(factory, demo, "hendra")
    phone = bearer(await factory.token(demo["slamet"], client_id="dev-slamet-test"))
    incident = (
        await client.get("/api/supervisor/incidents", params={"warehouse_id": JB}, headers=auth["hendra"])
    ).json()[0]

    now_ms = int(time.time() * 1000)

    def push(seq: int, **mutation: Any) -> dict[str, Any]:
        return {
            "protocol": 1,
            "client_id": "dev-slamet-test",
            "schema_version": 2,
            "mutations": [{"seq": seq, "hlc": f"{now_ms:013d}-0000{seq}-dev-slamet-test", **mutation}],
        }

    # An edit of a resolved incident's system field: rejected and kept for the supervisor.
    answer = await client.post(
        "/api/sync/push",
        headers=phone,
        json=push(
            1,
            id=incident["id"],
            collection="incidents",
            op="patch",
            base_rev=incident["revision"],
            fields={"status": "open"},
        ),
    )
    assert answer.json()["results"][0]["status"] == "rejected"
    # A concurrent change of a flagged field: a conflict.
    answer = await client.post(
        "/api/sync/push",
        headers=phone,
        json=push(
            2,
            id=incident["id"],
            collection="incidents",
            op="patch",
            base_rev=1,
            fields={"severity": "rendah"},
        ),
    )
    assert answer.json()["results"][0]["status"] == "conflict"

    queue = (await client.get("/api/supervisor/conflicts", headers=auth["hendra"])).json()
    [item] = queue["conflicts"]
    assert item["conflict"]["fields"]["client_value"] == "rendah" and item["current_value"] == "sedang"
    [rejected] = queue["rejected"]
    assert rejected["code"] == "read_only_field" and rejected["fields"] == {"status": "open"}
    assert rejected["current"] == {"status": incident["fields"]["status"]} and rejected["record_exists"]
    rina = bearer(await factory.token(demo["rina"]))
    elsewhere = (
        await client.get("/api/supervisor/conflicts", params={"warehouse_id": SN}, headers=rina)
    ).json()
    assert elsewhere == {"conflicts": [], "rejected": []}


async def test_exports_are_rfc4180_csv_with_the_audit_head_and_respect_scope_and_dates(
    client: httpx.AsyncClient, factory: Factory, demo: dict[str, User], storage: SqliteStorage
) -> None:
    auth = await tokens(factory, demo, "hendra")
    raw = {"form": "raw"}
    response = await client.get("/api/exports/incidents.csv", params=raw, headers=auth["hendra"])
    assert response.status_code == 200
    head = await storage.audit_head()
    assert head is not None and response.headers["x-audit-head"] == head[1]
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="tigapilar-incidents-raw-'
    )
    assert not response.content.startswith(b"\xef\xbb\xbf")  # the machine form: no byte-order mark
    assert response.content.count(b"\r\n") == response.text.count("\n")
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert {r["warehouse_id"] for r in rows} == {JB}  # Cempaka Putih has no incident
    answers = list(
        csv.DictReader(
            io.StringIO(
                (
                    await client.get(
                        "/api/exports/answers.csv", params={**raw, "warehouse_id": CP}, headers=auth["hendra"]
                    )
                ).text,
                newline="",
            )
        )
    )
    assert answers and {a["warehouse_id"] for a in answers} == {CP}
    empty = await client.get(
        "/api/exports/inspections.csv",
        params={**raw, "from": "2000-01-01", "to": "2000-01-02"},
        headers=auth["hendra"],
    )
    assert empty.text.count("\r\n") == 1  # the header row only
    assert (await client.get("/api/exports/secrets.csv", headers=auth["hendra"])).status_code == 404


def test_formula_like_text_is_defused_but_numbers_stay_numbers() -> None:
    from server.api.exports import cell

    assert cell('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert cell(-2) == -2 and cell(["a", "b"]) == "a; b" and cell(None) == "" and cell(True) == "true"
    assert cell(1.5) == 1.5 and cell(1.5, decimal_comma=True) == "1,5" and cell(2.0, decimal_comma=True) == 2


async def test_the_export_for_people_opens_in_excel_with_indonesian_settings(
    client: httpx.AsyncClient, factory: Factory, demo: dict[str, User]
) -> None:
    """The default export: UTF-8 with a byte-order mark, `;` between cells, the decimal comma,
    headers in words, codes as labels, times in WIB with the zone named; English on request."""
    auth = await tokens(factory, demo, "hendra")
    response = await client.get("/api/exports/incidents.csv", headers=auth["hendra"])
    assert response.status_code == 200 and response.content.startswith(b"\xef\xbb\xbf")
    text = response.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))
    header = text.split("\r\n", 1)[0].split(";")
    assert "Kategori" in header and "Waktu kejadian (WIB)" in header and "Diterima server (WIB)" in header
    assert not any("_" in h for h in header), header
    raw = list(
        csv.DictReader(
            io.StringIO(
                (
                    await client.get(
                        "/api/exports/incidents.csv", params={"form": "raw"}, headers=auth["hendra"]
                    )
                ).text,
                newline="",
            )
        )
    )
    assert len(raw) == len(rows) > 0
    for person, machine in zip(rows, raw, strict=True):
        assert person["Kategori"] != machine["category"] and "_" not in person["Kategori"]
        assert person["Status"] in {"Terbuka", "Diterima", "Selesai"}
        utc = datetime.fromisoformat(machine["occurred_at"].replace("Z", "+00:00"))
        assert person["Waktu kejadian (WIB)"] == (utc + timedelta(hours=7)).strftime("%Y-%m-%d %H:%M")
        if machine["hours_to_acknowledge"] and "." in machine["hours_to_acknowledge"]:
            assert person["Jam sampai diterima"] == machine["hours_to_acknowledge"].replace(".", ",")
    english = await client.get("/api/exports/incidents.csv", params={"lang": "en"}, headers=auth["hendra"])
    header = english.content.decode("utf-8-sig").split("\r\n", 1)[0].split(",")
    assert "Category" in header and "When it happened (WIB)" in header


async def test_overview_requests_arriving_during_a_build_share_it(
    client: httpx.AsyncClient,
    factory: Factory,
    demo: dict[str, User],
    storage: SqliteStorage,
    monkeypatch: Any,
) -> None:
    """Several open pages reloading the overview at once make one build, not one each; the
    filters and the sort still apply per request. Sequential requests each build afresh."""
    auth = await tokens(factory, demo, "hendra")
    # New stock item types: no kept summary holds, the next overview folds from the records.
    await storage.put_stock_item_type(
        StockItemType(code="terpal", name="Terpal plastik", unit="lembar", sort_order=99)
    )
    walks = 0
    walking, release = asyncio.Event(), asyncio.Event()
    real = storage.iter_records

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal walks
        walks += 1
        walking.set()
        await release.wait()
        async for record in real(*args, **kwargs):
            yield record

    monkeypatch.setattr(storage, "iter_records", counted)
    url = "/api/supervisor/overview"
    first = asyncio.create_task(client.get(url, headers=auth["hendra"]))
    await asyncio.wait([first, asyncio.create_task(walking.wait())], return_when=asyncio.FIRST_COMPLETED)
    assert walking.is_set(), "the overview was answered without folding any record"
    others = [
        asyncio.create_task(client.get(url, params={"sort": sort}, headers=auth["hendra"]))
        for sort in ("name", "kecamatan")
    ]
    await asyncio.sleep(0.05)
    release.set()
    answers = [await first] + [await task for task in others]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert walks == 1
    bodies = [a.json() for a in answers]
    assert len({b["revision"] for b in bodies}) == 1
    ids = [[w["warehouse"]["id"] for w in b["warehouses"]] for b in bodies]
    assert sorted(ids[0]) == sorted(ids[1]) == sorted(ids[2]) and len(ids[0]) >= 2
    by_name = sorted(
        bodies[1]["warehouses"], key=lambda w: (w["warehouse"]["name"].lower(), w["warehouse"]["id"])
    )
    assert ids[1] == [w["warehouse"]["id"] for w in by_name]

    assert (await client.get(url, headers=auth["hendra"])).status_code == 200
    assert walks == 1, "nothing changed: a later request reuses the warehouses' folds"


async def test_the_overview_keeps_summaries_and_a_push_brings_them_along(
    client: httpx.AsyncClient,
    factory: Factory,
    demo: dict[str, User],
    storage: SqliteStorage,
    monkeypatch: Any,
) -> None:
    """The overview folds each warehouse's records once and keeps its summary; then it reads no
    record: a push of a new incident in Johar Baru applies itself to that warehouse's summary in
    its own transaction (the overview after it reads no record and shows it); a change of the
    stock item types refolds every warehouse once."""
    auth = await tokens(factory, demo, "hendra")
    phone = bearer(await factory.token(demo["slamet"], client_id="dev-slamet-fold"))
    walked: list[list[str]] = []
    real = storage.iter_records

    async def recorded(warehouse_ids: Any, *args: Any, **kwargs: Any) -> Any:
        walked.append(sorted(warehouse_ids))
        async for record in real(warehouse_ids, *args, **kwargs):
            yield record

    monkeypatch.setattr(storage, "iter_records", recorded)

    async def overview() -> dict[str, Any]:
        answer = await client.get("/api/supervisor/overview", headers=auth["hendra"])
        assert answer.status_code == 200
        return {w["warehouse"]["id"]: w for w in answer.json()["warehouses"]}

    before = await overview()
    assert walked == [[CP, JB]], "the seeded warehouses are folded once"
    assert await overview() == before and walked == [[CP, JB]], "and their summaries kept"
    walked.clear()

    now_ms = int(time.time() * 1000)
    answer = await client.post(
        "/api/sync/push",
        headers=phone,
        json={
            "protocol": 1,
            "client_id": "dev-slamet-fold",
            "schema_version": 2,
            "mutations": [
                {
                    "seq": 1,
                    "hlc": f"{now_ms:013d}-00001-dev-slamet-fold",
                    "id": "0190a000-0000-7000-8000-00000000f01d",
                    "collection": "incidents",
                    "op": "create",
                    "warehouse_id": JB,
                    "fields": {
                        "category": "segel_rusak",
                        "severity": "kritis",
                        "description": "Segel pintu gudang rusak",
                        "occurred_at": "2026-11-28T01:00:00Z",
                    },
                }
            ],
        },
    )
    assert answer.json()["results"][0]["status"] == "applied", answer.text
    after = await overview()
    assert walked == [], "the push brought Johar Baru's summary along: nothing is refolded"
    kritis = before[JB]["open_incidents"].get("kritis", 0)
    assert after[JB]["open_incidents"]["kritis"] == kritis + 1
    assert after[JB]["status"] == "critical" and "critical_incident" in after[JB]["flags"]
    assert after[CP] == before[CP]

    await storage.put_stock_item_type(
        StockItemType(code="terpal", name="Terpal plastik", unit="lembar", sort_order=99)
    )
    assert await overview() == after
    assert walked == [[CP, JB]], "new stock item types refold every warehouse"
    assert await overview() == after and walked == [[CP, JB]], "and keep the refolded summaries"


async def test_the_overview_pages_and_filters_by_kota_with_the_total(
    client: httpx.AsyncClient, factory: Factory, demo: dict[str, User], storage: SqliteStorage
) -> None:
    """A national admin's overview: one page of `limit` rows from `offset`, `total` the rows
    matching the filters, `kota` (any case) narrowing it, the kota and kecamatan names to filter
    by; out-of-range paging is a 400 with a message, never a 500."""
    for n in range(7):
        await storage.put_warehouse(
            Warehouse(
                id=f"gd-bogor-{n}",
                code=f"BGR{n}",
                name=f"Gudang Bogor {n}",
                kecamatan=f"Cibinong {n % 2}",
                kota="Kabupaten Bogor",
            )
        )
    auth = await tokens(factory, demo, "admin")
    url = "/api/supervisor/overview"

    async def get(**params: object) -> dict[str, Any]:
        answer = await client.get(url, params=params, headers=auth["admin"])
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    everything = await get(sort="name")
    names = [r["warehouse"]["id"] for r in everything["warehouses"]]
    assert everything["total"] == len(names) == 11 and everything["offset"] == 0
    assert everything["kotas"] == ["Jakarta Pusat", "Kabupaten Bogor"]
    statuses = [r["status"] for r in everything["warehouses"]]
    assert everything["by_status"] == {s: statuses.count(s) for s in set(statuses)}
    pages = [await get(sort="name", limit=4, offset=o) for o in (0, 4, 8)]
    assert [len(p["warehouses"]) for p in pages] == [4, 4, 3]
    assert {str(p["by_status"]) for p in pages} == {str(everything["by_status"])}, "of every page"
    assert [r["warehouse"]["id"] for p in pages for r in p["warehouses"]] == names
    assert {p["total"] for p in pages} == {11} and [p["offset"] for p in pages] == [0, 4, 8]
    assert (await get(limit=4, offset=40))["warehouses"] == []

    bogor = await get(kota="kabupaten BOGOR", sort="name", limit=5)
    assert bogor["total"] == 7 and len(bogor["warehouses"]) == 5
    assert {r["warehouse"]["kota"] for r in bogor["warehouses"]} == {"Kabupaten Bogor"}
    assert bogor["kecamatans"] == ["Cibinong 0", "Cibinong 1"]
    assert bogor["kotas"] == everything["kotas"], "the kota filter still offers every kota in scope"
    one = await get(kota="Kabupaten Bogor", kecamatan="cibinong 1")
    assert one["total"] == 3 and {r["warehouse"]["kecamatan"] for r in one["warehouses"]} == {"Cibinong 1"}
    jakarta = await get(kota="Jakarta Pusat", status="critical")
    assert {r["warehouse"]["id"] for r in jakarta["warehouses"]} == {KM, SN} and jakarta["total"] == 2

    for bad in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"limit": "x"}):
        answer = await client.get(url, params=bad, headers=auth["admin"])
        assert answer.status_code == 400, (bad, answer.text)
        assert answer.json()["code"] and answer.json()["message"]
