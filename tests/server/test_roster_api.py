"""The guard post over HTTP (issue 21): phones check in and hand over through /api/sync/push, the
supervisor reads the roster, the overview's flags, the CSV and the buku mutasi. Both backends
(`--backend postgres` for the PostgreSQL half). Times are the real clock's: shifts are planned
around now.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from server.models import Warehouse
from sync.roster import handover_id, shift_id
from tests.factories import Factory, bearer
from tests.server.test_sync_api import Device

TZ_HOURS = 7


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Guard:
    """A warehouse with officers of Polri, TNI and Satpol PP, a KPU supervisor, and their phones."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.wh: Warehouse | None = None
        self.ids: dict[str, str] = {}
        self.phones: dict[str, Device] = {}
        self.today = (datetime.now(UTC) + timedelta(hours=TZ_HOURS)).date()

    @property
    def warehouse_id(self) -> str:
        assert self.wh is not None
        return self.wh.id

    async def push(
        self, who: str, op: str, rid: str, collection: str, fields: Any = None, **kw: Any
    ) -> dict[str, Any]:
        phone = self.phones[who]
        response = await phone.push([phone.mutation(op, rid, collection, fields=fields or {}, **kw)])
        assert response.status_code == 200, response.text
        return dict(response.json()["results"][0])

    async def get(self, who: str, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params, headers=bearer(self.phones[who].token))

    def shift(
        self, period: str, start: datetime, people: dict[str, list[str]], commander: str
    ) -> dict[str, Any]:
        return {
            "date": self.today.isoformat(),
            "period": period,
            "starts_at": _iso(start),
            "ends_at": _iso(start + timedelta(hours=8)),
            "personnel": {a: [self.ids[p] for p in names] for a, names in people.items()},
            "commander": self.ids[commander],
        }


@pytest.fixture
async def guard(client: httpx.AsyncClient, factory: Factory) -> Guard:
    await factory.reference_data()
    g = Guard(client)
    g.wh = await factory.warehouse()
    other = await factory.warehouse()
    people = {
        "sari": ("officer", "POLRI", [g.wh]),
        "dedi": ("officer", "POLRI", [g.wh]),
        "joko": ("officer", "TNI", [g.wh]),
        "wati": ("officer", "SATPOL_PP", [g.wh]),
        "rina": ("supervisor", "KPU", [g.wh]),
        "andi": ("supervisor", "KPU", [other]),
    }
    for name, (role, agency, warehouses) in people.items():
        user = await factory.user(role=role, agency=agency, warehouses=warehouses, full_name=name.title())  # type: ignore[arg-type]
        client_id = f"dev-{name}-{user.id[:8]}"
        g.ids[name] = user.id
        g.phones[name] = Device(client, await factory.token(user, client_id=client_id), client_id)
    return g


async def _planned(guard: Guard) -> tuple[str, str]:
    """The shift that ended three hours ago (pagi) and the one under way for two hours (siang)."""
    now = datetime.now(UTC)
    wid = guard.warehouse_id
    earlier, current = shift_id(wid, guard.today, "pagi"), shift_id(wid, guard.today, "siang")
    everyone = {"POLRI": ["sari"], "TNI": ["joko"], "SATPOL_PP": ["wati"]}
    for rid, start, commander, people in (
        (earlier, now - timedelta(hours=11), "sari", everyone),
        (current, now - timedelta(hours=2), "dedi", {**everyone, "POLRI": ["dedi"]}),
    ):
        result = await guard.push(
            "rina",
            "create",
            rid,
            "shifts",
            guard.shift(rid.rsplit(".", 1)[1], start, people, commander),
            warehouse_id=wid,
        )
        assert result["status"] == "applied", result
    return earlier, current


async def test_officers_check_in_from_their_phones_and_the_roster_shows_an_absence(guard: Guard) -> None:
    earlier, current = await _planned(guard)
    for who in ("dedi", "wati"):
        assert (await guard.push(who, "check_in", current, "shifts"))["status"] == "applied"
    refused = await guard.push("rina", "check_in", current, "shifts")
    assert (refused["status"], refused["code"]) == ("rejected", "forbidden")

    response = await guard.get("rina", "/api/supervisor/roster", warehouse_id=guard.warehouse_id)
    assert response.status_code == 200, response.text
    body = response.json()
    [day] = [d for d in body["days"] if d["date"] == guard.today.isoformat()]
    pagi, siang, malam = day["shifts"]
    assert malam is None and pagi["id"] == earlier
    assert siang["agencies"]["TNI"] == {"planned": 1, "present": 0, "late": 0, "absent": 1, "unplanned": 0}
    assert siang["agencies"]["POLRI"]["present"] == 1 and siang["understaffed"] is True
    assert siang["missing_pillars"] == ["TNI"]
    joko = next(p for p in siang["people"] if p["user_id"] == guard.ids["joko"])
    assert joko["state"] == "absent" and joko["at"] is None
    assert {o["full_name"] for o in body["officers"]} == {"Sari", "Dedi", "Joko", "Wati"}
    assert pagi["handover"]["state"] == "missing" and pagi["handover"]["overdue"] is True

    overview = (await guard.get("rina", "/api/supervisor/overview")).json()
    [row] = [w for w in overview["warehouses"] if w["warehouse"]["id"] == guard.warehouse_id]
    assert {"understaffed", "pillar_missing", "handover_missing"} <= set(row["flags"])
    assert row["guard"]["current"] == current
    assert f"understaffed:{current}" in row["guard"]["shifts"]


async def test_a_handover_confirmed_by_both_commanders_is_no_longer_flagged(guard: Guard) -> None:
    earlier, _ = await _planned(guard)
    ho = handover_id(earlier)
    body = {"outgoing_shift": earlier, "s.nomor_segel_pintu": "KPU-JB 004217", "keys": "2 kunci gembok"}
    assert (await guard.push("sari", "create", ho, "handovers", body, warehouse_id=guard.warehouse_id))[
        "status"
    ] == "applied"
    overview = (await guard.get("rina", "/api/supervisor/overview")).json()
    [row] = [w for w in overview["warehouses"] if w["warehouse"]["id"] == guard.warehouse_id]
    assert "handover_unconfirmed" in row["flags"] and "handover_missing" not in row["flags"]
    for who, side in (("sari", "outgoing"), ("dedi", "incoming")):
        pulled = await guard.phones[who].pull(limit=5000)
        [seen] = [c["revision"] for c in pulled["changes"] if c["id"] == ho]  # what the commander read
        result = await guard.push(who, "confirm", ho, "handovers", {"side": side}, base_rev=seen)
        assert result["status"] == "applied", result
    overview = (await guard.get("rina", "/api/supervisor/overview")).json()
    [row] = [w for w in overview["warehouses"] if w["warehouse"]["id"] == guard.warehouse_id]
    assert "handover_unconfirmed" not in row["flags"]
    roster = (await guard.get("rina", "/api/supervisor/roster", warehouse_id=guard.warehouse_id)).json()
    [day] = [d for d in roster["days"] if d["date"] == guard.today.isoformat()]
    handover = day["shifts"][0]["handover"]
    assert handover["state"] == "confirmed" and set(handover["confirmations"]) == {"outgoing", "incoming"}
    assert handover["seals"] == {"nomor_segel_pintu": "KPU-JB 004217"}


async def test_the_roster_csv_is_for_people(guard: Guard) -> None:
    _, current = await _planned(guard)
    await guard.push("dedi", "check_in", current, "shifts")
    response = await guard.get(
        "rina", "/api/supervisor/roster.csv", warehouse_id=guard.warehouse_id, week=guard.today.isoformat()
    )
    assert response.status_code == 200, response.text
    assert response.content.startswith("\ufeff".encode())
    assert 'filename="jadwal-jaga-' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["Gudang", "Tanggal", "Shift"]
    dedi = next(r for r in rows if r[6] == "Dedi")
    assert dedi[2] == "Siang" and dedi[5] == "Kepolisian Negara Republik Indonesia" and dedi[7] == "ya"
    assert dedi[9] == "Terlambat" and dedi[10].endswith(" WIB")  # two hours after the start
    joko = next(r for r in rows if r[6] == "Joko" and r[2] == "Siang")
    assert joko[9] == "Tidak hadir" and joko[10] == ""


async def test_the_buku_mutasi_is_one_day(guard: Guard) -> None:
    earlier, _ = await _planned(guard)
    response = await guard.get(
        "rina", "/api/supervisor/mutasi", warehouse_id=guard.warehouse_id, date=guard.today.isoformat()
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["day"] == guard.today.isoformat() and [d["date"] for d in body["days"]] == [body["day"]]
    assert body["days"][0]["shifts"][0]["id"] == earlier and body["utc_offset_hours"] == 7


async def test_the_roster_is_for_supervisors_of_the_warehouse(guard: Guard) -> None:
    await _planned(guard)
    for who, status, code in (("sari", 403, "forbidden"), ("andi", 403, "out_of_scope")):
        response = await guard.get(who, "/api/supervisor/roster", warehouse_id=guard.warehouse_id)
        assert (response.status_code, response.json()["code"]) == (status, code)
    for params in (
        {"warehouse_id": guard.warehouse_id, "week": "1900-01-01"},
        {"warehouse_id": guard.warehouse_id, "week": "kemarin"},
        {},
    ):
        response = await guard.get("rina", "/api/supervisor/roster", **params)
        assert response.status_code == 400 and response.json()["code"] in ("bad_range", "invalid_request"), (
            response.text
        )
    response = await guard.get("rina", "/api/supervisor/mutasi", warehouse_id=guard.warehouse_id)
    assert response.status_code == 400


async def test_a_supervisor_copies_last_week_in_one_push(guard: Guard) -> None:
    await _planned(guard)
    monday = guard.today - timedelta(days=guard.today.weekday())
    next_monday = monday + timedelta(days=7)
    wid = guard.warehouse_id
    result = await guard.push(
        "rina",
        "copy_week",
        f"wk.{wid}.{next_monday}",
        "shifts",
        {"from": monday.isoformat()},
        warehouse_id=wid,
    )
    assert result["status"] == "applied", result
    roster = (
        await guard.get("rina", "/api/supervisor/roster", warehouse_id=wid, week=next_monday.isoformat())
    ).json()
    copied = [s for d in roster["days"] for s in d["shifts"] if s]
    assert [s["period"] for s in copied] == ["pagi", "siang"] and roster["planned"] is True
