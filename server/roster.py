"""What the supervisor sees of the guard post, computed in plain Python over synced records.

Pure: no HTTP, no SQL. The API (server/api/roster.py) reads a week's shifts and handovers by their
derived ids (`Storage.get_records`) and hands them here; the overview's fold (server.reports) keeps
each warehouse's recent shifts between requests and asks `guard_flags` what needs attention now.

    week()          a warehouse's week: every shift with who of which agency was planned and who
                    was there (present / late / absent), and its handover's state
    guard_flags()   understaffed shifts, a pillar missing, missing or unconfirmed handovers,
                    a seal number that differs from the last recorded one
    csv_rows()      the week for people: one row per person per shift
    mutasi()        one day's buku mutasi: shifts, who was there, what was handed over
    on_duty()       who is on duty now (officers receive web pushes only then)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

from msgspec import Struct

from server.models import Warehouse
from sync.domain import AGENCIES
from sync.roster import (
    FAR_OUTSIDE_MINUTES,
    LATE_AFTER_MINUTES,
    PERIODS,
    agency_summary,
    attendance_of,
    handover_id,
    handover_overdue,
    handover_state,
    missing_pillars,
    parse_instant,
    planned_people,
    shift_id,
)
from sync.store import Record

GUARD_FLAGS = ("understaffed", "pillar_missing", "handover_missing", "handover_unconfirmed", "seal_mismatch")
"""The overview's flags of the guard post, in the order the page shows them."""
RECENT_HOURS = 24
"""Shifts that ended this long ago still count on the overview."""
KEPT_SHIFTS = 42
"""Shifts each warehouse's fold keeps (two weeks: a week planned ahead and the days just past)."""


class PersonRow(Struct, kw_only=True, frozen=True):
    user_id: str
    agency: str
    planned: bool
    state: str
    """present, late, outside, absent, expected (not yet due), unplanned (came without a plan)."""
    at: str | None = None
    out_at: str | None = None
    commander: bool = False


class HandoverRow(Struct, kw_only=True, frozen=True):
    id: str
    state: str
    """missing, open (nobody confirmed), half (one commander), confirmed (both: locked)."""
    overdue: bool
    findings: list[str]
    confirmations: dict[str, Any]
    seals: dict[str, str]
    keys: str = ""
    incidents: list[str] = []
    notes: list[str] = []
    """The commanders' notes, in the order written."""


class ShiftRow(Struct, kw_only=True, frozen=True):
    id: str
    revision: int
    """What a supervisor's change of the plan is based on."""
    date: str
    period: str
    starts_at: str
    ends_at: str
    commander: str
    agencies: dict[str, dict[str, int]]
    """Per agency: planned, present, late, absent, unplanned."""
    people: list[PersonRow]
    missing_pillars: list[str]
    understaffed: bool
    handover: HandoverRow


class DayRow(Struct, kw_only=True, frozen=True):
    date: str
    shifts: list[ShiftRow | None]
    """One per period (pagi, siang, malam); None where nothing is planned."""


class RosterWeek(Struct, kw_only=True, frozen=True):
    warehouse: Warehouse
    week: str
    """The Monday."""
    generated_at: str
    days: list[DayRow]
    planned: bool
    """Whether any shift of the week is planned (the page offers to copy the week before)."""


def week_ids(warehouse_id: str, monday: date) -> list[str]:
    """Every shift and handover id of a week (the handover of the Sunday malam included)."""
    shifts = [shift_id(warehouse_id, monday + timedelta(days=d), p) for d in range(7) for p in PERIODS]
    return shifts + [handover_id(s) for s in shifts]


def _started(fields: Mapping[str, Any], now: datetime) -> bool:
    start = parse_instant(fields.get("starts_at"))
    return start is not None and now > start + timedelta(minutes=LATE_AFTER_MINUTES)


def shift_row(shift: Record, handover: Record | None, now: datetime, confirm_minutes: float) -> ShiftRow:
    f = shift.fields
    commander = str(f.get("commander") or "")
    attendance = f.get("attendance") or {}
    people: list[PersonRow] = []
    for agency in AGENCIES:
        for person in (f.get("personnel") or {}).get(agency, []):
            entry = attendance.get(person) or {}
            people.append(
                PersonRow(
                    user_id=person,
                    agency=agency,
                    planned=True,
                    state=attendance_of(f, person, now),
                    at=entry.get("at"),
                    out_at=entry.get("out_at"),
                    commander=person == commander,
                )
            )
    planned = planned_people(f)
    for person, entry in attendance.items():
        if person not in planned:
            people.append(
                PersonRow(
                    user_id=person,
                    agency=str(entry.get("agency", "")),
                    planned=False,
                    state="unplanned",
                    at=entry.get("at"),
                    out_at=entry.get("out_at"),
                )
            )
    agencies = agency_summary(f, now)
    hf = handover.fields if handover is not None and not handover.deleted else None
    return ShiftRow(
        id=shift.id,
        revision=shift.revision,
        date=str(f.get("date", "")),
        period=str(f.get("period", "")),
        starts_at=str(f.get("starts_at", "")),
        ends_at=str(f.get("ends_at", "")),
        commander=commander,
        agencies=agencies,
        people=people,
        missing_pillars=missing_pillars(f, now),
        understaffed=_started(f, now) and any(a["absent"] for a in agencies.values()),
        handover=HandoverRow(
            id=handover_id(shift.id),
            state=handover_state(hf),
            overdue=handover_overdue(f, hf, now, confirm_minutes),
            findings=[str(c) for c in (hf or {}).get("findings") or []],
            confirmations=dict((hf or {}).get("confirmations") or {}),
            seals={k[2:]: str(v) for k, v in (hf or {}).items() if k.startswith("s.") and v},
            keys=str((hf or {}).get("keys") or ""),
            incidents=[str(i) for i in (hf or {}).get("incidents") or []],
            notes=[str(n.get("text", "")) for n in (hf or {}).get("notes") or [] if isinstance(n, dict)],
        ),
    )


def week(
    warehouse: Warehouse,
    monday: date,
    records: Mapping[str, Record],
    *,
    now: datetime,
    confirm_minutes: float,
    generated_at: str,
) -> RosterWeek:
    days: list[DayRow] = []
    planned = False
    for d in range(7):
        day = monday + timedelta(days=d)
        row: list[ShiftRow | None] = []
        for period in PERIODS:
            shift = records.get(shift_id(warehouse.id, day, period))
            if shift is None or shift.deleted:
                row.append(None)
                continue
            planned = True
            row.append(shift_row(shift, records.get(handover_id(shift.id)), now, confirm_minutes))
        days.append(DayRow(date=day.isoformat(), shifts=row))
    return RosterWeek(
        warehouse=warehouse, week=monday.isoformat(), generated_at=generated_at, days=days, planned=planned
    )


# -- overview ---------------------------------------------------------------------------------------
class GuardShift(Struct, kw_only=True, frozen=True):
    """What the overview keeps of one shift: its fields, and its handover's (None: no handover)."""

    id: str
    fields: dict[str, Any]
    handover: dict[str, Any] | None


SPARE_SHIFTS = 8
"""Shifts a warehouse's summary keeps beyond KEPT_SHIFTS, so that a push removing a kept shift
(deleted, or moved back in time) still knows the next one (server/summaries.py)."""


class KeptShifts(Struct, kw_only=True, frozen=True):
    """A warehouse's most recent shifts (`guard`, what the overview shows), the next ones
    (`spare`), the revision of each (guard then spare), and whether these are all its shifts."""

    guard: list[GuardShift]
    spare: list[GuardShift]
    revisions: list[int]
    complete: bool


def shift_rank(fields: Mapping[str, Any], revision: int) -> tuple[str, int]:
    """Order of the kept shifts, highest first: the latest start, then the earliest revision."""
    return (str(fields.get("starts_at", "")), -revision)


def kept_shifts(records: Iterable[Record]) -> list[GuardShift]:
    """A warehouse's most recent shifts with their handovers, for its overview fold."""
    return kept_with_spare(records).guard


def kept_with_spare(records: Iterable[Record]) -> KeptShifts:
    """kept_shifts(), with the SPARE_SHIFTS after them; `records` in revision order."""
    shifts: list[Record] = []
    handovers: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.deleted:
            continue
        if record.collection == "shifts":
            shifts.append(record)
        elif record.collection == "handovers":
            handovers[record.id] = record.fields
    shifts.sort(key=lambda r: str(r.fields.get("starts_at", "")), reverse=True)
    kept = [
        GuardShift(id=s.id, fields=s.fields, handover=handovers.get(handover_id(s.id)))
        for s in shifts[: KEPT_SHIFTS + SPARE_SHIFTS]
    ]
    return KeptShifts(
        guard=kept[:KEPT_SHIFTS],
        spare=kept[KEPT_SHIFTS:],
        revisions=[s.revision for s in shifts[: KEPT_SHIFTS + SPARE_SHIFTS]],
        complete=len(shifts) <= KEPT_SHIFTS + SPARE_SHIFTS,
    )


class GuardNow(Struct, kw_only=True, frozen=True):
    flags: list[str]
    """Of GUARD_FLAGS, those that hold now."""
    current: str | None
    """The shift under way, if any."""
    shifts: list[str]
    """The shifts each flag is about, e.g. "understaffed:sh.gd-x.2026-02-09.malam"."""


def guard_flags(shifts: Sequence[GuardShift], now: datetime, confirm_minutes: float) -> GuardNow:
    """What needs a supervisor about the shifts under way or ended in the last RECENT_HOURS."""
    flags: set[str] = set()
    about: list[str] = []
    current = None
    for s in shifts:
        start, end = parse_instant(s.fields.get("starts_at")), parse_instant(s.fields.get("ends_at"))
        if start is None or end is None or start > now or end < now - timedelta(hours=RECENT_HOURS):
            continue
        if end >= now:
            current = s.id
        found = []
        summary = agency_summary(s.fields, now)
        if _started(s.fields, now) and any(a["absent"] for a in summary.values()):
            found.append("understaffed")
        if missing_pillars(s.fields, now):
            found.append("pillar_missing")
        if handover_overdue(s.fields, s.handover, now, confirm_minutes):
            found.append("handover_missing" if s.handover is None else "handover_unconfirmed")
        if s.handover and s.handover.get("findings"):
            found.append("seal_mismatch")
        flags.update(found)
        about += [f"{flag}:{s.id}" for flag in found]
    return GuardNow(flags=[f for f in GUARD_FLAGS if f in flags], current=current, shifts=sorted(about))


# -- for people ---------------------------------------------------------------------------------------
STATE_LABELS = {
    "present": "Hadir",
    "late": "Terlambat",
    "outside": "Hadir di luar jam shift",
    "absent": "Tidak hadir",
    "expected": "Belum waktunya",
    "unplanned": "Hadir tanpa jadwal",
}
HANDOVER_LABELS = {
    "missing": "Belum ada",
    "open": "Belum dikonfirmasi",
    "half": "Dikonfirmasi satu pihak",
    "confirmed": "Dikonfirmasi kedua danru",
}
PERIOD_LABELS = {"pagi": "Pagi", "siang": "Siang", "malam": "Malam"}


def local(value: Any, tz: timezone, zone: str) -> str:
    """A stored time as people read it: local date and time with the zone named."""
    moment = parse_instant(value, naive_utc=True)
    return f"{moment.astimezone(tz):%Y-%m-%d %H:%M} {zone}" if moment else ""


ROSTER_COLUMNS = [
    "Gudang",
    "Tanggal",
    "Shift",
    "Mulai",
    "Selesai",
    "Instansi",
    "Nama",
    "Danru",
    "Terjadwal",
    "Kehadiran",
    "Masuk",
    "Keluar",
    "Serah terima",
]


def csv_rows(
    roster: RosterWeek, names: Mapping[str, str], agencies: Mapping[str, str], tz: timezone, zone: str
) -> list[list[Any]]:
    """One row per person per shift, labelled for people (not codes), times local with the zone."""
    rows: list[list[Any]] = []
    for day in roster.days:
        for shift in day.shifts:
            if shift is None:
                continue
            for person in shift.people:
                rows.append(
                    [
                        roster.warehouse.name,
                        shift.date,
                        PERIOD_LABELS.get(shift.period, shift.period),
                        local(shift.starts_at, tz, zone),
                        local(shift.ends_at, tz, zone),
                        agencies.get(person.agency, person.agency),
                        names.get(person.user_id, person.user_id),
                        "ya" if person.commander else "",
                        "ya" if person.planned else "tidak",
                        STATE_LABELS.get(person.state, person.state),
                        local(person.at, tz, zone),
                        local(person.out_at, tz, zone),
                        HANDOVER_LABELS.get(shift.handover.state, shift.handover.state),
                    ]
                )
    return rows


def on_duty(shifts: Iterable[Record], now: datetime) -> frozenset[str]:
    """Who is on duty at `now` in these shifts (server/alerts/duty.py: officers receive web pushes
    only then). Someone who checked out is not; otherwise someone planned for a shift under way
    (from its start to its end), or checked in to one that has not ended (an early check-in, up to
    FAR_OUTSIDE_MINUTES before its start, counts from the check-in). A shift that ended, or a
    person planned only for a later one, is off duty."""
    people: set[str] = set()
    for shift in shifts:
        if shift.deleted:
            continue
        start, end = parse_instant(shift.fields.get("starts_at")), parse_instant(shift.fields.get("ends_at"))
        if start is None or end is None or now >= end:
            continue
        attendance = shift.fields.get("attendance") or {}
        under_way = now >= start
        for person in planned_people(shift.fields) | set(attendance):
            entry = attendance.get(person) or {}
            if entry.get("out_at"):
                continue
            checked_in = parse_instant(entry.get("at"))
            early = start - timedelta(minutes=FAR_OUTSIDE_MINUTES)
            if under_way or (checked_in is not None and early <= checked_in <= now):
                people.add(person)
    return frozenset(people)
