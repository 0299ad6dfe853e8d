"""The guard post's rules (issue 21), one behaviour per test, through the engine on the real store
of the run's backend (SQLite; PostgreSQL with `--backend postgres`).

Johar Baru has officers of Polri, TNI, Satpol PP and KPU, an officer of another warehouse and two
supervisors. Time is a wall clock the test sets: phones stamp their mutations by it, the server
applies them by it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from server.storage import Storage
from sync.clock import HybridClock
from sync.domain import Actor, Member
from sync.engine import SyncEngine
from sync.messages import MutationResult
from sync.roster import handover_id, seal_register_id, shift_id, week_id
from tests.sync.helpers import TEMPLATE, WH, Phone, actor
from tests.sync.test_evidence_properties import storage_members

MONDAY = date(2026, 2, 9)
T0 = datetime(2026, 2, 9, 0, 0, tzinfo=UTC)  # 07:00 WIB: the pagi shift starts
PAGI = shift_id(WH, MONDAY, "pagi")
SIANG = shift_id(WH, MONDAY, "siang")
MALAM = shift_id(WH, MONDAY, "malam")
HANDOVER = handover_id(PAGI)
SEAL = "KPU-JB 004217"

PEOPLE: dict[str, Actor] = {
    "sari": actor("sari", agency="POLRI"),
    "dedi": actor("dedi", agency="POLRI"),
    "joko": actor("joko", agency="TNI"),
    "wati": actor("wati", agency="SATPOL_PP"),
    "yuli": actor("yuli", agency="KPU"),
    "budi": actor("budi", role="supervisor", agency="POLRI"),
    "rina": actor("rina", role="supervisor", agency="KPU"),
}
OUTSIDER = actor("andi", warehouses=("wh-senen",))


class Wall:
    """The time everyone reads: set by the test, 1 ms further at each reading."""

    def __init__(self, moment: datetime) -> None:
        self.ms = int(moment.timestamp() * 1000)

    def set(self, moment: datetime) -> None:
        self.ms = max(self.ms, int(moment.timestamp() * 1000))

    def __call__(self) -> int:
        self.ms += 1
        return self.ms

    def iso(self) -> str:
        return datetime.fromtimestamp(self() / 1000, UTC).isoformat(timespec="milliseconds")


class Post:
    """The guard post of Johar Baru: its engine, its people's phones (a second one for sari)."""

    def __init__(self, storage: Storage) -> None:
        self.wall = Wall(T0 - timedelta(days=3))
        self.engine = SyncEngine(storage, HybridClock("server", self.wall), now=self.wall.iso)
        self.phones = {name: Phone(self.engine, who, wall=self.wall) for name, who in PEOPLE.items()}
        second = Actor(**{**_fields(PEOPLE["sari"]), "client_id": "dev-sari-0002"})
        self.phones["sari2"] = Phone(self.engine, second, wall=self.wall)
        self.phones["andi"] = Phone(self.engine, OUTSIDER, wall=self.wall)

    def at(self, moment: datetime) -> Post:
        self.wall.set(moment)
        return self

    async def one(
        self, who: str, op: str, rid: str, collection: str, fields: Any = None, **kw: Any
    ) -> MutationResult:
        """One mutation from `who`'s phone, pushed at once; the phone pulls afterwards."""
        phone = self.phones[who]
        await phone.pull()
        phone.mutate(op, rid, collection, fields or {}, **kw)
        response = await phone.push()
        await phone.pull()
        return response.results[-1]

    async def record(self, rid: str) -> dict[str, Any]:
        phone = self.phones["budi"]
        await phone.pull()
        return dict(phone.replica[rid].fields)

    async def plan(self, period: str = "pagi", day: date = MONDAY, **fields: Any) -> MutationResult:
        start = datetime.combine(day, datetime.min.time(), UTC) + timedelta(
            hours={"pagi": 0, "siang": 8, "malam": 16}[period]
        )
        body = {
            "date": day.isoformat(),
            "period": period,
            "starts_at": _iso(start),
            "ends_at": _iso(start + timedelta(hours=8)),
            "personnel": {"POLRI": ["u-sari"], "TNI": ["u-joko"], "SATPOL_PP": ["u-wati"]},
            "commander": "u-sari",
            **fields,
        }
        return await self.one("budi", "create", shift_id(WH, day, period), "shifts", body, warehouse_id=WH)


def _fields(who: Actor) -> dict[str, Any]:
    return {f: getattr(who, f) for f in who.__struct_fields__}


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
async def post(storage: Storage) -> Post:
    await storage.put_template(TEMPLATE)
    await storage_members(
        storage, [Member(user_id=a.user_id, role=a.role, agency=a.agency) for a in PEOPLE.values()]
    )
    return Post(storage)


def _ok(result: MutationResult) -> None:
    assert result.status == "applied", (result.code, result.message)


def _refused(result: MutationResult, code: str) -> None:
    assert (result.status, result.code) == ("rejected", code), result


# -- planning ---------------------------------------------------------------------------------------


async def test_only_a_supervisor_plans_a_shift_at_its_derived_id(post: Post) -> None:
    body = {
        "date": "2026-02-09",
        "period": "pagi",
        "starts_at": "2026-02-09T00:00Z",
        "ends_at": "2026-02-09T08:00Z",
    }
    _refused(await post.one("sari", "create", PAGI, "shifts", body, warehouse_id=WH), "forbidden")
    _refused(await post.one("budi", "create", "sh-random", "shifts", body, warehouse_id=WH), "invalid_value")
    # the same day written another ISO way would be a second shift of that day and period
    for day in ("20260209", "2026-W07-1"):
        other = {**body, "date": day}
        rid = shift_id(WH, day, "pagi")
        _refused(await post.one("budi", "create", rid, "shifts", other, warehouse_id=WH), "invalid_value")
    _ok(await post.plan())
    _refused(await post.plan(), "already_exists")  # a second supervisor planning the same shift
    shift = await post.record(PAGI)
    assert shift["planned_by"] == "u-budi" and shift["attendance"] == {}


async def test_planned_people_are_officers_of_the_warehouse_under_their_own_agency(post: Post) -> None:
    _refused(await post.plan(personnel={"POLRI": ["u-andi"]}, commander=None), "invalid_value")
    _refused(await post.plan(personnel={"TNI": ["u-sari"]}, commander=None), "invalid_value")
    _refused(await post.plan(personnel={"POLRI": ["u-budi"]}, commander=None), "invalid_value")
    _refused(await post.plan(personnel={"POLRI": ["u-sari"]}, commander="u-joko"), "invalid_value")
    _refused(await post.plan(ends_at="2026-02-08T00:00Z"), "invalid_value")
    _ok(await post.plan())


async def test_a_plan_no_longer_changes_once_the_shift_has_ended(post: Post) -> None:
    _ok(await post.plan())
    _ok(
        await post.one(
            "rina", "patch", PAGI, "shifts", {"personnel": {"POLRI": ["u-sari", "u-dedi"], "TNI": ["u-joko"]}}
        )
    )
    _refused(await post.one("sari", "patch", PAGI, "shifts", {"commander": "u-joko"}), "forbidden")
    post.at(T0 + timedelta(hours=9))
    _refused(await post.one("budi", "patch", PAGI, "shifts", {"commander": "u-dedi"}), "shift_ended")


async def test_two_supervisors_planning_different_people_at_once_keep_both_as_a_conflict(post: Post) -> None:
    _ok(await post.plan())
    budi, rina = post.phones["budi"], post.phones["rina"]
    await rina.pull()
    budi.mutate("patch", PAGI, "shifts", {"personnel": {"POLRI": ["u-dedi"]}, "commander": "u-dedi"})
    rina.mutate("patch", PAGI, "shifts", {"personnel": {"TNI": ["u-joko"]}, "commander": "u-joko"})
    _ok((await budi.push()).results[-1])
    result = (await rina.push()).results[-1]
    assert result.status == "conflict" and len(result.conflicts) == 2
    assert (await post.record(PAGI))["personnel"] == {"POLRI": ["u-dedi"]}


async def test_copying_a_week_plans_each_shift_once_with_its_hours_and_people(post: Post) -> None:
    _ok(await post.plan("pagi"))
    _ok(await post.plan("malam", personnel={"POLRI": ["u-dedi"], "TNI": ["u-joko"]}, commander="u-dedi"))
    next_week = MONDAY + timedelta(days=7)
    copy = {"from": MONDAY.isoformat()}
    _refused(
        await post.one("sari", "copy_week", week_id(WH, next_week), "shifts", copy, warehouse_id=WH),
        "forbidden",
    )
    _ok(await post.one("budi", "copy_week", week_id(WH, next_week), "shifts", copy, warehouse_id=WH))
    _ok(await post.one("rina", "copy_week", week_id(WH, next_week), "shifts", copy, warehouse_id=WH))
    copied = await post.record(shift_id(WH, next_week, "malam"))
    assert copied["starts_at"] == "2026-02-16T16:00:00.000Z" and copied["commander"] == "u-dedi"
    assert copied["personnel"] == {"POLRI": ["u-dedi"], "TNI": ["u-joko"]} and copied["attendance"] == {}
    phone = post.phones["budi"]
    planned = [
        c for c in phone.replica.values() if c.collection == "shifts" and c.fields["date"] == "2026-02-16"
    ]
    assert len(planned) == 2
    _refused(
        await post.one(
            "budi", "copy_week", week_id(WH, next_week), "shifts", {"from": "2026-02-10"}, warehouse_id=WH
        ),
        "invalid_value",
    )


async def test_a_started_shift_is_never_deleted(post: Post) -> None:
    _ok(await post.plan("siang"))
    _ok(await post.plan("malam"))
    _ok(await post.one("budi", "delete", MALAM, "shifts"))
    post.at(T0 + timedelta(hours=8, minutes=5))
    _ok(await post.one("sari", "check_in", SIANG, "shifts"))
    _refused(await post.one("budi", "delete", SIANG, "shifts"), "shift_started")


# -- check-in ---------------------------------------------------------------------------------------


async def test_only_officers_assigned_to_the_warehouse_check_in(post: Post) -> None:
    _ok(await post.plan())
    post.at(T0 + timedelta(minutes=2))
    _refused(await post.one("budi", "check_in", PAGI, "shifts"), "forbidden")
    _refused(await post.one("andi", "check_in", PAGI, "shifts"), "out_of_scope")
    _ok(await post.one("dedi", "check_in", PAGI, "shifts"))  # assigned, not planned: counted apart
    entry = (await post.record(PAGI))["attendance"]["u-dedi"]
    assert entry["planned"] is False and entry["agency"] == "POLRI" and entry["flag"] == ""


async def test_two_phones_of_one_officer_check_in_once_and_the_earliest_stands(post: Post) -> None:
    _ok(await post.plan())
    sari, sari2 = post.phones["sari"], post.phones["sari2"]
    await sari.pull()
    await sari2.pull()
    post.at(T0 + timedelta(minutes=1))
    sari2.mutate("check_in", PAGI, "shifts")
    post.at(T0 + timedelta(minutes=30))
    sari.mutate("check_in", PAGI, "shifts")
    _ok((await sari.push()).results[-1])
    assert (await post.record(PAGI))["attendance"]["u-sari"]["flag"] == "late"
    _ok((await sari2.push()).results[-1])  # offline for longer, checked in earlier: that one stands
    attendance = (await post.record(PAGI))["attendance"]
    assert list(attendance) == ["u-sari"]
    assert attendance["u-sari"]["client_id"] == "dev-sari-0002" and attendance["u-sari"]["flag"] == ""
    sari.mutate("check_in", PAGI, "shifts")
    _ok((await sari.push()).results[-1])
    assert (await post.record(PAGI))["attendance"] == attendance


async def test_a_check_in_far_outside_the_shift_is_flagged(post: Post) -> None:
    _ok(await post.plan())
    post.at(T0 - timedelta(hours=3))
    _ok(await post.one("joko", "check_in", PAGI, "shifts"))
    post.at(T0 + timedelta(minutes=16))
    _ok(await post.one("wati", "check_in", PAGI, "shifts"))
    post.at(T0 + timedelta(hours=8, minutes=1))
    _ok(await post.one("sari", "check_in", PAGI, "shifts"))
    attendance = (await post.record(PAGI))["attendance"]
    assert {u: e["flag"] for u, e in attendance.items()} == {
        "u-joko": "outside",
        "u-wati": "late",
        "u-sari": "outside",
    }


async def test_check_out_needs_a_check_in_and_comes_after_it(post: Post) -> None:
    _ok(await post.plan())
    post.at(T0)
    _refused(await post.one("joko", "check_out", PAGI, "shifts"), "not_checked_in")
    _ok(await post.one("joko", "check_in", PAGI, "shifts"))
    _refused(await post.one("joko", "check_in", PAGI, "shifts", {"photos": ["nope"]}), "invalid_value")
    post.at(T0 + timedelta(hours=8))
    _ok(await post.one("joko", "check_out", PAGI, "shifts"))
    entry = (await post.record(PAGI))["attendance"]["u-joko"]
    assert entry["out_at"] > entry["at"] and entry["out_client_id"] == "dev-joko-0001"


# -- handover ---------------------------------------------------------------------------------------


async def _two_shifts(post: Post) -> None:
    _ok(await post.plan("pagi"))
    _ok(
        await post.plan(
            "siang",
            personnel={"POLRI": ["u-dedi"], "TNI": ["u-joko"], "SATPOL_PP": ["u-wati"]},
            commander="u-dedi",
        )
    )
    post.at(T0 + timedelta(hours=7, minutes=50))


async def test_a_handover_is_written_by_the_two_commanders_only(post: Post) -> None:
    _ok(await post.plan("pagi"))
    body = {"outgoing_shift": PAGI, "s.nomor_segel": SEAL}
    _refused(
        await post.one("sari", "create", HANDOVER, "handovers", body, warehouse_id=WH),
        "incoming_shift_unplanned",
    )
    _ok(await post.plan("siang", personnel={"POLRI": ["u-dedi"]}, commander="u-dedi"))
    _refused(await post.one("joko", "create", HANDOVER, "handovers", body, warehouse_id=WH), "forbidden")
    _refused(await post.one("sari", "create", "ho-x", "handovers", body, warehouse_id=WH), "invalid_value")
    _ok(await post.one("sari", "create", HANDOVER, "handovers", body, warehouse_id=WH))
    handover = await post.record(HANDOVER)
    assert handover["incoming_shift"] == SIANG and handover["status"] == "open"
    assert (handover["outgoing_commander"], handover["incoming_commander"]) == ("u-sari", "u-dedi")
    _refused(await post.one("sari", "delete", HANDOVER, "handovers"), "not_allowed")


async def test_two_commanders_starting_the_handover_offline_write_one_record(post: Post) -> None:
    await _two_shifts(post)
    sari, dedi = post.phones["sari"], post.phones["dedi"]
    await dedi.pull()
    sari.mutate(
        "create",
        HANDOVER,
        "handovers",
        {"outgoing_shift": PAGI, "s.nomor_segel": SEAL, "keys": "2 kunci"},
        warehouse_id=WH,
    )
    dedi.mutate(
        "create",
        HANDOVER,
        "handovers",
        {"outgoing_shift": PAGI, "s.nomor_segel": "KPU-JB 004299"},
        warehouse_id=WH,
    )
    _ok((await sari.push()).results[-1])
    result = (await dedi.push()).results[-1]
    assert result.status == "conflict"  # two readings of one seal: kept, for a supervisor
    handover = await post.record(HANDOVER)
    assert handover["s.nomor_segel"] == SEAL and handover["keys"] == "2 kunci"


async def test_a_seal_number_differing_from_the_last_inspection_is_a_finding(post: Post) -> None:
    await _two_shifts(post)
    answers = {"a.segel_pintu": "ya", "a.nomor_segel": " kpu-jb 004217 ", "a.kotak_suara": 40}
    _ok(
        await post.one(
            "joko",
            "create",
            "insp-1",
            "inspections",
            {"template_id": TEMPLATE.id, **answers},
            warehouse_id=WH,
        )
    )
    _ok(await post.one("joko", "submit", "insp-1", "inspections"))
    register = await post.record(seal_register_id(WH))
    assert register["numbers"]["nomor_segel"]["number"] == SEAL
    _ok(
        await post.one(
            "sari",
            "create",
            HANDOVER,
            "handovers",
            {"outgoing_shift": PAGI, "s.nomor_segel": "KPU-JB 004218"},
            warehouse_id=WH,
        )
    )
    handover = await post.record(HANDOVER)
    assert handover["findings"] == ["nomor_segel"]
    assert handover["compared"]["nomor_segel"]["record_id"] == "insp-1"
    _ok(await post.one("sari", "patch", HANDOVER, "handovers", {"s.nomor_segel": SEAL.lower()}))
    assert (await post.record(HANDOVER))["findings"] == []
    _refused(await post.one("sari", "patch", seal_register_id(WH), "seals", {"numbers": {}}), "not_allowed")


async def _handed_over(post: Post) -> None:
    """sari's handover of the pagi shift: one seal, one open incident."""
    body = {"outgoing_shift": PAGI, "s.nomor_segel": SEAL, "incidents": ["inc-1"]}
    _ok(await post.one("sari", "create", HANDOVER, "handovers", body, warehouse_id=WH))


async def _confirmed(post: Post) -> None:
    await _handed_over(post)
    _ok(await post.one("sari", "confirm", HANDOVER, "handovers", {"side": "outgoing"}))
    _ok(
        await post.one(
            "dedi", "confirm", HANDOVER, "handovers", {"side": "incoming", "acknowledged": ["inc-1"]}
        )
    )


async def test_both_commanders_confirm_from_their_own_account_then_it_is_locked(post: Post) -> None:
    await _two_shifts(post)
    await _handed_over(post)
    _refused(await post.one("dedi", "confirm", HANDOVER, "handovers", {"side": "outgoing"}), "forbidden")
    _refused(await post.one("joko", "confirm", HANDOVER, "handovers", {"side": "incoming"}), "forbidden")
    _refused(
        await post.one("dedi", "confirm", HANDOVER, "handovers", {"side": "incoming"}),
        "incidents_unacknowledged",
    )
    _ok(await post.one("sari", "confirm", HANDOVER, "handovers", {"side": "outgoing"}))
    _refused(
        await post.one("sari", "patch", HANDOVER, "handovers", {"keys": "3 kunci"}), "handover_confirmed"
    )
    _ok(
        await post.one("sari2", "confirm", HANDOVER, "handovers", {"side": "outgoing"})
    )  # her other phone: nothing new
    _ok(
        await post.one(
            "dedi", "confirm", HANDOVER, "handovers", {"side": "incoming", "acknowledged": ["inc-1"]}
        )
    )
    handover = await post.record(HANDOVER)
    assert handover["status"] == "confirmed"
    assert handover["confirmations"]["outgoing"]["client_id"] == "dev-sari-0001"
    assert handover["confirmations"]["incoming"]["acknowledged"] == ["inc-1"]
    _refused(await post.one("dedi", "patch", HANDOVER, "handovers", {"keys": "hilang"}), "handover_locked")
    _refused(
        await post.one(
            "dedi", "create", HANDOVER, "handovers", {"outgoing_shift": PAGI, "keys": "x"}, warehouse_id=WH
        ),
        "handover_locked",
    )
    register = await post.record(seal_register_id(WH))
    assert register["numbers"]["nomor_segel"] == {
        **register["numbers"]["nomor_segel"],
        "record_id": HANDOVER,
        "number": SEAL,
    }


async def test_one_person_commanding_both_shifts_cannot_confirm_both_sides(post: Post) -> None:
    _ok(await post.plan("pagi"))
    _ok(await post.plan("siang"))  # sari commands the next shift too
    _ok(await post.one("sari", "create", HANDOVER, "handovers", {"outgoing_shift": PAGI}, warehouse_id=WH))
    _ok(await post.one("sari", "confirm", HANDOVER, "handovers", {"side": "outgoing"}))
    _refused(await post.one("sari2", "confirm", HANDOVER, "handovers", {"side": "incoming"}), "four_eyes")


async def test_a_confirmation_of_a_handover_that_changed_since_it_was_read_is_refused(post: Post) -> None:
    await _two_shifts(post)
    _ok(
        await post.one(
            "sari",
            "create",
            HANDOVER,
            "handovers",
            {"outgoing_shift": PAGI, "keys": "2 kunci"},
            warehouse_id=WH,
        )
    )
    dedi = post.phones["dedi"]
    await dedi.pull()
    _ok(await post.one("sari", "patch", HANDOVER, "handovers", {"keys": "1 kunci"}))
    dedi.mutate("confirm", HANDOVER, "handovers", {"side": "incoming"})  # offline: based on "2 kunci"
    _refused((await dedi.push()).results[-1], "handover_changed")
    _ok(await post.one("dedi", "confirm", HANDOVER, "handovers", {"side": "incoming"}))


async def test_a_supervisor_cannot_change_a_confirmed_seal_through_a_conflict(post: Post) -> None:
    await _two_shifts(post)
    sari, dedi = post.phones["sari"], post.phones["dedi"]
    await dedi.pull()
    sari.mutate(
        "create", HANDOVER, "handovers", {"outgoing_shift": PAGI, "s.nomor_segel": SEAL}, warehouse_id=WH
    )
    dedi.mutate(
        "create",
        HANDOVER,
        "handovers",
        {"outgoing_shift": PAGI, "s.nomor_segel": "KPU-JB 000001"},
        warehouse_id=WH,
    )
    await sari.push()
    [conflict_id] = (await dedi.push()).results[-1].conflicts
    _ok(await post.one("sari", "confirm", HANDOVER, "handovers", {"side": "outgoing"}))
    _ok(await post.one("dedi", "confirm", HANDOVER, "handovers", {"side": "incoming"}))
    _refused(
        await post.one("budi", "resolve", conflict_id, "conflicts", {"value": "KPU-JB 000001"}),
        "handover_locked",
    )
    _ok(await post.one("budi", "resolve", conflict_id, "conflicts", {"value": SEAL}))
    assert (await post.record(HANDOVER))["s.nomor_segel"] == SEAL


async def test_the_next_handover_compares_its_seals_with_the_confirmed_one_before(post: Post) -> None:
    await _two_shifts(post)
    await _confirmed(post)
    _ok(await post.plan("malam", personnel={"POLRI": ["u-sari"]}, commander="u-sari"))
    post.at(T0 + timedelta(hours=15, minutes=55))
    body = {"outgoing_shift": SIANG, "s.nomor_segel": "KPU-JB 004300"}
    _ok(await post.one("dedi", "create", handover_id(SIANG), "handovers", body, warehouse_id=WH))
    handover = await post.record(handover_id(SIANG))
    assert (
        handover["findings"] == ["nomor_segel"]
        and handover["compared"]["nomor_segel"]["record_id"] == HANDOVER
    )


async def test_a_warehouse_of_twelve_hour_shifts_hands_pagi_over_to_malam(post: Post) -> None:
    _ok(await post.plan("pagi", ends_at="2026-02-09T12:00Z"))
    dedi = {"POLRI": ["u-dedi"], "TNI": ["u-joko"]}
    _ok(
        await post.plan(
            "malam",
            starts_at="2026-02-09T12:00Z",
            ends_at="2026-02-10T00:00Z",
            personnel=dedi,
            commander="u-dedi",
        )
    )
    post.at(T0 + timedelta(hours=11, minutes=50))
    _ok(await post.one("dedi", "create", HANDOVER, "handovers", {"outgoing_shift": PAGI}, warehouse_id=WH))
    handover = await post.record(HANDOVER)
    assert (handover["incoming_shift"], handover["incoming_commander"]) == (MALAM, "u-dedi")
