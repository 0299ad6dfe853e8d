"""The guard post's rules: shifts, check-ins and handovers (serah terima jaga), as pure functions.

A shift is one period (pagi, siang, malam) of one warehouse on one day; its id is derived from
those three (`shift_id`), so two supervisors, or a copied week, can never plan the same shift
twice. Its handover is the record `handover_id(outgoing shift)`, so two commanders starting the
same handover offline on two phones write one record, merged field by field.

Times: a shift's `starts_at` / `ends_at` are UTC instants set by the supervisor who plans it (each
warehouse may keep other hours: copying a week keeps them). A check-in's time is the wall-clock
part of its mutation's hybrid-logical-clock stamp: the phone's clock corrected by the server's,
which the engine refuses when it runs ahead of the server.

Nothing here writes: sync.ops calls these and writes through its context.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sync.domain import AGENCIES
from sync.errors import Rejection

PERIODS: tuple[str, ...] = ("pagi", "siang", "malam")
"""A day's shifts in order; malam runs into the next day."""

DEFAULT_HOURS: dict[str, tuple[int, int]] = {"pagi": (7, 15), "siang": (15, 23), "malam": (23, 7)}
"""Local start and end hour of each period, as the supervisor page offers them."""

PILLARS: dict[str, tuple[str, ...]] = {
    "POLRI": ("POLRI",),
    "TNI": ("TNI",),
    "PEMDA": ("SATPOL_PP", "DISHUB", "FKDM"),
}
"""The three pillars of the joint guard and the agencies that make each one up."""

LATE_AFTER_MINUTES = 15
"""A check-in this long after the shift's start is late."""
FAR_OUTSIDE_MINUTES = 120
"""A check-in more than this before the start, or after the end, is far outside the shift."""
HANDOVER_CONFIRM_MINUTES = 60
"""By default, a handover not confirmed by both commanders this long after the outgoing shift
ended is flagged (the server's setting TIGAPILAR_HANDOVER_CONFIRM_MINUTES)."""
MAX_SHIFT_HOURS = 24
MAX_WAREHOUSE_ID = 44
"""Longest warehouse id a roster can have: shift and handover ids are at most 64 characters."""

ATTENDANCE_COUNTS = ("planned", "present", "late", "absent", "unplanned")
Attendance = Literal["present", "late", "absent", "expected", "outside"]


def shift_id(warehouse_id: str, day: date | str, period: str) -> str:
    """`sh.<warehouse>.<yyyy-mm-dd>.<period>`: one shift per warehouse, day and period."""
    text = day.isoformat() if isinstance(day, date) else day
    return f"sh.{warehouse_id}.{text}.{period}"


def parse_shift_id(record_id: str) -> tuple[str, date, str] | None:
    """(warehouse, day, period) of a shift id, or None when it is not one."""
    head, _, period = record_id.rpartition(".")
    head, _, day = head.rpartition(".")
    prefix, _, warehouse_id = head.partition(".")
    if prefix != "sh" or not warehouse_id or period not in PERIODS:
        return None
    shift_day = canonical_day(day)
    return None if shift_day is None else (warehouse_id, shift_day, period)


def canonical_day(text: str) -> date | None:
    """A yyyy-mm-dd day that exists, in exactly that form: `date.fromisoformat` also reads
    "20261207" and "2026-W49-1", which would name a second shift for the same day."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if day.isoformat() == text else None


def handover_id(outgoing_shift_id: str) -> str:
    """The handover at the end of a shift: `ho.` + the rest of the shift's id."""
    return "ho." + outgoing_shift_id.removeprefix("sh.")


def shift_of_handover(handover: str) -> str:
    return "sh." + handover.removeprefix("ho.")


def seal_register_id(warehouse_id: str) -> str:
    """The server's register of each seal's last recorded number in a warehouse."""
    return f"seals.{warehouse_id}"


def week_id(warehouse_id: str, monday: date) -> str:
    """The id a week's copy operation names: `wk.<warehouse>.<monday>`."""
    return f"wk.{warehouse_id}.{monday.isoformat()}"


def parse_week_id(record_id: str) -> tuple[str, date] | None:
    head, _, day = record_id.rpartition(".")
    prefix, _, warehouse_id = head.partition(".")
    if prefix != "wk" or not warehouse_id:
        return None
    monday = canonical_day(day)
    return (warehouse_id, monday) if monday is not None and monday.weekday() == 0 else None


def following_shifts(shift: str) -> list[str]:
    """The shifts that may take over from `shift`, nearest first: the next two periods (a
    warehouse that plans 12-hour shifts, pagi and malam, hands pagi over to malam)."""
    parsed = parse_shift_id(shift)
    if parsed is None:
        return []
    warehouse_id, day, period = parsed
    index = PERIODS.index(period)
    after = [
        (day + timedelta(days=(index + n) // len(PERIODS)), PERIODS[(index + n) % len(PERIODS)])
        for n in (1, 2)
    ]
    return [shift_id(warehouse_id, d, p) for d, p in after]


def week_shift_ids(warehouse_id: str, monday: date) -> list[str]:
    return [
        shift_id(warehouse_id, monday + timedelta(days=d), period) for d in range(7) for period in PERIODS
    ]


def parse_instant(value: Any, *, naive_utc: bool = False) -> datetime | None:
    """An ISO time with its zone (one without a zone is None, or UTC with `naive_utc`)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC) if naive_utc else None
    return moment


def instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_shift_times(starts_at: Any, ends_at: Any) -> tuple[datetime, datetime]:
    start, end = parse_instant(starts_at), parse_instant(ends_at)
    if start is None or end is None:
        raise Rejection("invalid_value", "starts_at, ends_at: times with a zone, e.g. 2024-02-12T00:00Z")
    if not start < end <= start + timedelta(hours=MAX_SHIFT_HOURS):
        raise Rejection("invalid_value", f"a shift ends after it starts, within {MAX_SHIFT_HOURS} hours")
    return start, end


def check_personnel(value: Any) -> dict[str, list[str]]:
    """Planned personnel: {agency: [user id, ...]}, each person once."""
    if not isinstance(value, dict):
        raise Rejection("invalid_value", "personnel: expected {agency: [user id, ...]}")
    seen: set[str] = set()
    planned: dict[str, list[str]] = {}
    for agency, people in value.items():
        if agency not in AGENCIES:
            raise Rejection("invalid_value", f"personnel: {agency} is not an agency")
        if not isinstance(people, list) or not all(isinstance(p, str) and p for p in people):
            raise Rejection("invalid_value", f"personnel.{agency}: expected a list of user ids")
        for person in people:
            if person in seen:
                raise Rejection("invalid_value", f"personnel: {person} is planned twice")
            seen.add(person)
        if people:
            planned[agency] = list(people)
    return planned


def planned_people(fields: dict[str, Any]) -> set[str]:
    personnel = fields.get("personnel") or {}
    return {p for people in personnel.values() for p in people} if isinstance(personnel, dict) else set()


def check_in_flag(at: datetime, start: datetime, end: datetime) -> str:
    """'' on time, 'late' after the grace, 'outside' far before the start or after the end."""
    if at < start - timedelta(minutes=FAR_OUTSIDE_MINUTES) or at > end:
        return "outside"
    if at > start + timedelta(minutes=LATE_AFTER_MINUTES):
        return "late"
    return ""


def attendance_of(fields: dict[str, Any], user_id: str, now: datetime) -> Attendance:
    """Where a planned person stands in a shift at `now`."""
    entry = (fields.get("attendance") or {}).get(user_id)
    if entry:
        flag = entry.get("flag", "")
        return "late" if flag == "late" else "outside" if flag == "outside" else "present"
    start = parse_instant(fields.get("starts_at"))
    if start is not None and now > start + timedelta(minutes=LATE_AFTER_MINUTES):
        return "absent"
    return "expected"


def agency_summary(fields: dict[str, Any], now: datetime) -> dict[str, dict[str, int]]:
    """Per agency: planned, present (on time or late), late, absent, and unplanned check-ins."""
    personnel = fields.get("personnel") or {}
    attendance = fields.get("attendance") or {}
    summary: dict[str, dict[str, int]] = {}

    def row(agency: str) -> dict[str, int]:
        return summary.setdefault(agency, dict.fromkeys(ATTENDANCE_COUNTS, 0))

    for agency, people in personnel.items():
        for person in people:
            counts = row(agency)
            counts["planned"] += 1
            state = attendance_of(fields, person, now)
            if state in ("present", "late", "outside"):
                counts["present"] += 1
            if state == "late":
                counts["late"] += 1
            if state == "absent":
                counts["absent"] += 1
    planned = planned_people(fields)
    for person, entry in attendance.items():
        if person not in planned:
            counts = row(str(entry.get("agency", "")))
            counts["unplanned"] += 1
            counts["present"] += 1
    return {a: summary[a] for a in AGENCIES if a in summary}


def missing_pillars(fields: dict[str, Any], now: datetime) -> list[str]:
    """Pillars with nobody planned, or (once the shift is under way) nobody checked in."""
    start = parse_instant(fields.get("starts_at"))
    begun = start is not None and now > start + timedelta(minutes=LATE_AFTER_MINUTES)
    personnel = fields.get("personnel") or {}
    present = {str(e.get("agency", "")) for e in (fields.get("attendance") or {}).values()}
    missing = []
    for pillar, agencies in PILLARS.items():
        planned = any(personnel.get(a) for a in agencies)
        if not planned or (begun and not present.intersection(agencies)):
            missing.append(pillar)
    return missing


def handover_state(handover: dict[str, Any] | None) -> Literal["missing", "open", "half", "confirmed"]:
    if handover is None:
        return "missing"
    if handover.get("status") == "confirmed":
        return "confirmed"
    return "half" if handover.get("confirmations") else "open"


def handover_overdue(
    shift_fields: dict[str, Any], handover: dict[str, Any] | None, now: datetime, minutes: float
) -> bool:
    """A shift that ended more than `minutes` ago without a handover confirmed by both sides."""
    end = parse_instant(shift_fields.get("ends_at"))
    if end is None or now <= end + timedelta(minutes=minutes):
        return False
    return handover_state(handover) != "confirmed"


def rules_data() -> dict[str, Any]:
    """The roster rules the phone shows before the server decides (static/js/rules-data.js)."""
    return {
        "periods": list(PERIODS),
        "defaultHours": {p: list(h) for p, h in DEFAULT_HOURS.items()},
        "pillars": {p: list(a) for p, a in PILLARS.items()},
        "lateAfterMinutes": LATE_AFTER_MINUTES,
        "farOutsideMinutes": FAR_OUTSIDE_MINUTES,
    }
