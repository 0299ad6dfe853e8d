"""The demo's guard post: a week of shifts, check-ins and handovers in every demo warehouse.

Johar Baru keeps three 8-hour shifts (pagi 07–15, siang 15–23, malam 23–07 WIB); the other
warehouses two of 12 hours (pagi 07–19, malam 19–07), their own hours. Supervisors plan each
warehouse's week in one push; every officer checks in and out from their own phone; each
commander hands over to the next, both confirming from their own phones. Two things to see: the
TNI member of Johar Baru's malam shift of two days ago never arrived (an absence, the TNI pillar
missing), and yesterday's siang handover in Johar Baru reads a door seal number that differs
from the last one recorded (a finding). Events after the seeding's "now" do not happen: today's
later shifts are planned, not yet guarded.

Run by server.seed.demo, through the same engine and clocks as the rest of the demo.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sync.roster import handover_id, instant, shift_id

Push = Callable[..., Awaitable[Any]]
"""server.seed.demo._Seeder.push: (username, *ops)."""


@dataclass(frozen=True)
class Team:
    period: str
    start_hour: int
    hours: int
    people: dict[str, tuple[str, ...]]
    """Agency: usernames."""
    commander: str


JB, CP, KM, SN = "gd-johar-baru", "gd-cempaka-putih", "gd-kemayoran", "gd-senen"
DOOR_SEAL = "nomor_segel_pintu"

ROSTERS: dict[str, tuple[str, list[Team]]] = {
    JB: (
        "hendra",
        [
            Team(
                "pagi",
                7,
                8,
                {"POLRI": ("slamet",), "TNI": ("joko",), "SATPOL_PP": ("dedi",), "KPU": ("yuli",)},
                "slamet",
            ),
            Team("siang", 15, 8, {"POLRI": ("agus",), "TNI": ("wahyu",), "DISHUB": ("rudi",)}, "agus"),
            Team("malam", 23, 8, {"POLRI": ("slamet",), "TNI": ("wahyu",), "FKDM": ("siti",)}, "siti"),
        ],
    ),
    CP: (
        "hendra",
        [
            Team("pagi", 7, 12, {"POLRI": ("fajar",), "TNI": ("bambang",), "SATPOL_PP": ("nanda",)}, "fajar"),
            Team("malam", 19, 12, {"POLRI": ("gilang",), "TNI": ("teguh",), "FKDM": ("ani",)}, "teguh"),
        ],
    ),
    KM: (
        "rina",
        [
            Team("pagi", 7, 12, {"POLRI": ("andi",), "TNI": ("eko",), "DISHUB": ("yoga",)}, "andi"),
            Team("malam", 19, 12, {"POLRI": ("hari",), "TNI": ("dimas",), "SATPOL_PP": ("wulan",)}, "dimas"),
        ],
    ),
    SN: (
        "rina",
        [
            Team("pagi", 7, 12, {"POLRI": ("made",), "TNI": ("hasan",), "SATPOL_PP": ("lestari",)}, "made"),
            Team("malam", 19, 12, {"POLRI": ("bayu",), "TNI": ("rizki",), "FKDM": ("ratna",)}, "rizki"),
        ],
    ),
}
SEALS = {JB: "KPU-JB 004217", CP: "KPU-CP 001530", KM: "KPU-KM 007781", SN: "KPU-SN 000912"}
ABSENT = (JB, 2, "malam", "wahyu")
"""(warehouse, days ago, period, username): who never arrived."""
LATE = (JB, 1, "pagi", "dedi", 35)
"""(warehouse, days ago, period, username, minutes late)."""
SEAL_MISMATCH = (JB, 1, "siang", "KPU-JB 004281")
"""(warehouse, days ago, outgoing period, the number read): differs from the last recorded one."""
DAYS = 7


@dataclass(order=True)
class Event:
    moment: datetime
    order: int
    username: str
    ops: tuple[dict[str, Any], ...]


def _plan(
    warehouse_id: str, day: date, team: Team, uid: Callable[[str], str], tz: timezone
) -> dict[str, Any]:
    start = datetime.combine(day, time(team.start_hour), tz)
    return {
        "id": shift_id(warehouse_id, day, team.period),
        "collection": "shifts",
        "warehouse_id": warehouse_id,
        "fields": {
            "date": day.isoformat(),
            "period": team.period,
            "starts_at": instant(start),
            "ends_at": instant(start + timedelta(hours=team.hours)),
            "personnel": {agency: [uid(u) for u in people] for agency, people in team.people.items()},
            "commander": uid(team.commander),
        },
    }


def events(today: date, uid: Callable[[str], str], tz: timezone) -> list[Event]:
    """Everything the week's guard posts do, in time order (before filtering by now)."""
    found: list[Event] = []
    seals = dict(SEALS)
    n = iter(range(1_000_000))
    first = today - timedelta(days=DAYS - 1)
    for warehouse_id, (planner, teams) in ROSTERS.items():
        plan = [
            _plan(warehouse_id, first + timedelta(days=d), t, uid, tz) for d in range(DAYS) for t in teams
        ]
        found.append(Event(datetime.combine(first, time(7), tz), next(n), planner, tuple(plan)))
        for d in range(DAYS):
            day = first + timedelta(days=d)
            days_ago = (today - day).days
            for index, team in enumerate(teams):
                rid = shift_id(warehouse_id, day, team.period)
                start = datetime.combine(day, time(team.start_hour), tz)
                end = start + timedelta(hours=team.hours)
                for k, username in enumerate(u for people in team.people.values() for u in people):
                    if (warehouse_id, days_ago, team.period, username) == ABSENT:
                        continue
                    late = LATE[4] if (warehouse_id, days_ago, team.period, username) == LATE[:4] else 0
                    arrival = start + timedelta(minutes=k * 2 + late)
                    found.append(
                        Event(
                            arrival,
                            next(n),
                            username,
                            ({"id": rid, "collection": "shifts", "op": "check_in"},),
                        )
                    )
                    found.append(
                        Event(
                            end + timedelta(minutes=5 + k),
                            next(n),
                            username,
                            ({"id": rid, "collection": "shifts", "op": "check_out"},),
                        )
                    )
                incoming = teams[(index + 1) % len(teams)]
                if d == DAYS - 1 and index == len(teams) - 1:
                    continue  # nobody is planned after the week: no handover
                mismatch = (warehouse_id, days_ago, team.period) == SEAL_MISMATCH[:3]
                if mismatch:
                    seals[warehouse_id] = SEAL_MISMATCH[3]  # the door's seal reads otherwise from now on
                seal = seals[warehouse_id]
                handover = handover_id(rid)
                body: dict[str, Any] = {
                    "outgoing_shift": rid,
                    f"s.{DOOR_SEAL}": seal,
                    "keys": "Kunci gembok pintu utama (2) dan pintu belakang (1) diserahkan",
                }
                if mismatch:
                    body["notes"] = [
                        {
                            "id": f"n-{handover}",
                            "text": "Nomor segel pintu berbeda dari catatan terakhir; dilaporkan ke PPK.",
                        }
                    ]
                found.append(
                    Event(
                        end - timedelta(minutes=15),
                        next(n),
                        team.commander,
                        (
                            {
                                "id": handover,
                                "collection": "handovers",
                                "warehouse_id": warehouse_id,
                                "fields": body,
                            },
                        ),
                    )
                )
                found.append(
                    Event(
                        end - timedelta(minutes=10),
                        next(n),
                        team.commander,
                        (
                            {
                                "id": handover,
                                "collection": "handovers",
                                "op": "confirm",
                                "fields": {"side": "outgoing"},
                            },
                        ),
                    )
                )
                found.append(
                    Event(
                        end + timedelta(minutes=10),
                        next(n),
                        incoming.commander,
                        (
                            {
                                "id": handover,
                                "collection": "handovers",
                                "op": "confirm",
                                "fields": {"side": "incoming"},
                            },
                        ),
                    )
                )
    return sorted(found)


async def guard_week(
    push: Push, at: Callable[[datetime], bool], today: date, uid: Callable[[str], str], tz: timezone
) -> None:
    """Push the week's events that happened before now (`at` moves the seeding clock and says
    whether the moment is past)."""
    for event in events(today, uid, tz):
        if at(event.moment):
            await push(event.username, *event.ops)
