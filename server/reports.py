"""What the supervisor view shows, computed in plain Python over synced records.

Pure: no HTTP, no SQL. The services (server/overview.py for the overview; the supervisor reads of
server/api/supervisor.py) read records with `Storage.iter_records` and hand them here, so every
backend gets the same numbers.

    overview()          one row per warehouse: last inspection, overdue, findings, incidents, stock,
                        devices that have not synced for long
    reconcile()         expected vs last counted stock per item type, with the history of counts
    incident_row()      an incident with its times to acknowledge and to resolve
    charts()            inspections per day per agency, findings by section, incidents by category

Times: server timestamps (created_at, submitted_at, ...) are trusted; a phone's own times are shown
but never used to order or to judge lateness, since phone clocks are often wrong. Counts are
ordered by the hybrid-logical-clock stamp of the counted value, which never runs behind anything
its phone has seen from the server.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Literal

from msgspec import Struct

from server.models import StockItemType, User, Warehouse, iso
from server.roster import GuardNow, GuardShift, guard_flags, kept_with_spare
from server.storage.base import DeviceSyncState
from sync.clock import parse_hlc
from sync.domain import Label, Template, TemplateItem, answer_field
from sync.roster import HANDOVER_CONFIRM_MINUTES, parse_instant
from sync.store import Record

SEVERITY_ORDER = ("kritis", "tinggi", "sedang", "rendah")
Status = Literal["critical", "overdue", "attention", "ok"]
STATUS_ORDER: tuple[Status, ...] = ("critical", "overdue", "attention", "ok")
DONE_INSPECTION = ("submitted", "needs_fix", "reviewed")


# -- settings ----------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Settings:
    inspection_interval_hours: float = 12
    """A warehouse with no inspection for longer than this is overdue."""
    device_stale_hours: float = 24
    """A device not heard from for longer than this is flagged."""
    utc_offset_hours: float = 7
    """Local time of the days in charts (WIB = +7, WITA = +8, WIT = +9)."""
    handover_confirm_minutes: float = HANDOVER_CONFIRM_MINUTES
    """A handover not confirmed by both commanders this long after its shift ended is flagged."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def number(name: str, default: float) -> float:
            try:
                value = float(env.get(name, ""))
            except ValueError:
                return default
            return value if value > 0 or name.endswith("OFFSET_HOURS") else default

        return cls(
            inspection_interval_hours=number("TIGAPILAR_INSPECTION_INTERVAL_HOURS", 12),
            device_stale_hours=number("TIGAPILAR_DEVICE_STALE_HOURS", 24),
            utc_offset_hours=number("TIGAPILAR_UTC_OFFSET_HOURS", 7),
            handover_confirm_minutes=number("TIGAPILAR_HANDOVER_CONFIRM_MINUTES", HANDOVER_CONFIRM_MINUTES),
        )

    @property
    def tz(self) -> timezone:
        return timezone(timedelta(hours=self.utc_offset_hours))


def parse_time(value: Any) -> datetime | None:
    """A stored time; one without a zone is UTC."""
    return parse_instant(value, naive_utc=True)


def hours_between(start: Any, end: Any) -> float | None:
    a, b = parse_time(start), parse_time(end)
    if a is None or b is None:
        return None
    return round((b - a).total_seconds() / 3600, 2)


def hlc_time(stamp: str) -> str:
    """The wall-clock part of an HLC stamp as an ISO time ('' when there is none)."""
    if not stamp:
        return ""
    try:
        ms = parse_hlc(stamp)[0]
    except (ValueError, IndexError):
        return ""
    return iso(datetime.fromtimestamp(ms / 1000, UTC))


# -- people ------------------------------------------------------------------------------------------
class Person(Struct, kw_only=True, frozen=True):
    id: str
    username: str
    full_name: str
    agency: str
    rank: str = ""
    role: str = "officer"


def people(users: Iterable[User]) -> dict[str, Person]:
    return {
        u.id: Person(
            id=u.id, username=u.username, full_name=u.full_name, agency=u.agency, rank=u.rank, role=u.role
        )
        for u in users
    }


# -- overview ----------------------------------------------------------------------------------------
class InspectionRef(Struct, kw_only=True, frozen=True):
    id: str
    at: str
    """Server time of the submission."""
    by: str
    agency: str
    status: str
    findings: list[str]


class DeviceRow(Struct, kw_only=True, frozen=True):
    device_id: str
    user_id: str
    name: str
    client_id: str
    last_contact: str
    last_push_at: str | None
    missing_attachments: int
    stale: bool
    warehouses: list[str]


class WarehouseOverview(Struct, kw_only=True):
    warehouse: Warehouse
    status: Status
    flags: list[str]
    """Every reason for attention: critical_incident, overdue, findings, incidents, stock,
    conflicts, needs_review, stale_devices, and the guard post's (server.roster.GUARD_FLAGS)."""
    last_inspection: InspectionRef | None
    last_by_agency: dict[str, InspectionRef]
    hours_since_inspection: float | None
    overdue: bool
    drafts: int
    awaiting_review: int
    needs_fix: int
    open_findings: list[str]
    """Findings of every inspection not yet reviewed, and of the most recent submitted one."""
    open_incidents: dict[str, int]
    """Open (not resolved) incidents by severity."""
    stock_discrepancies: int
    open_conflicts: int
    devices: list[DeviceRow]
    """Devices of this warehouse's people; stale ones first."""
    guard: GuardNow
    """The guard post now: the shift under way and what needs attention (server.roster)."""


class Overview(Struct, kw_only=True):
    generated_at: str
    revision: int
    """Live updates after this revision bring the page up to date (the SSE cursor)."""
    interval_hours: float
    device_stale_hours: float
    warehouses: list[WarehouseOverview]
    total: int = 0
    """Rows matching the request's filters (`warehouses` is one page of them from `offset`)."""
    offset: int = 0
    by_status: dict[str, int] = {}
    """How many of the rows matching the filters have each status (of every page, not this one)."""
    kotas: list[str] = []
    """Every kota/kabupaten of the warehouses in scope (what the page's filter offers)."""
    kecamatans: list[str] = []
    """Every kecamatan in scope, of the requested kota only when one is."""


def _inspection_ref(record: Record) -> InspectionRef:
    f = record.fields
    return InspectionRef(
        id=record.id,
        at=str(f.get("submitted_at") or record.updated_at),
        by=str(f.get("submitted_by") or f.get("inspector_id") or record.created_by),
        agency=str(f.get("inspector_agency", "")),
        status=str(f.get("status", "")),
        findings=[str(c) for c in f.get("findings") or []],
    )


class WarehouseFold(Struct, kw_only=True, frozen=True):
    """What one warehouse's records say for the overview: nothing here depends on the time of the
    request, the settings or who asks, so it stays true until a record of the warehouse changes
    (or the stock item types do). The supervisor API keeps these between requests."""

    last: InspectionRef | None = None
    """The most recent submitted inspection, of any agency."""
    by_agency: dict[str, InspectionRef] = {}
    drafts: int = 0
    awaiting: int = 0
    needs_fix: int = 0
    incidents: dict[str, int] = {}
    """Open incidents by severity."""
    conflicts: int = 0
    stock_discrepancies: int = 0
    open_findings: list[str] = []
    """Findings of every inspection not yet reviewed, and of the most recent one: a clean
    inspection after a bad one never hides what is still waiting for a supervisor."""
    guard: list[GuardShift] = []
    """The most recent shifts with their handovers (server.roster.kept_shifts)."""
    guard_spare: list[GuardShift] = []
    guard_revisions: list[int] = []
    guard_complete: bool = True
    """The shifts after `guard`, the revision of each of both, whether they are all the warehouse's
    (server.roster.kept_with_spare): what a push needs to keep `guard` (server/summaries.py). A
    summary a push brought along may know fewer spares, or not know that it knows them all."""


class _WarehouseState:
    def __init__(self) -> None:
        self.last: InspectionRef | None = None
        self.by_agency: dict[str, InspectionRef] = {}
        self.drafts = 0
        self.awaiting = 0
        self.needs_fix = 0
        self.incidents: Counter[str] = Counter()
        self.conflicts = 0
        self.stock: list[Record] = []
        self.unreviewed_findings: set[str] = set()
        self.guard: list[Record] = []


def fold(
    warehouse_ids: Iterable[str],
    records: Iterable[Record],
    templates: Mapping[str, Template],
    stock_items: Iterable[StockItemType],
) -> dict[str, WarehouseFold]:
    """Fold the non-deleted inspections, incidents, stock counts, stock levels and conflicts of
    the warehouses into one WarehouseFold each (records of other warehouses are ignored)."""
    states = {wid: _WarehouseState() for wid in warehouse_ids}
    for record in records:
        state = states.get(record.warehouse_id)
        if state is None or record.deleted:
            continue
        f = record.fields
        if record.collection == "inspections":
            status = f.get("status", "draft")
            if status == "draft":
                state.drafts += 1
                continue
            state.stock.append(record)
            if status == "submitted":
                state.awaiting += 1
            elif status == "needs_fix":
                state.needs_fix += 1
            if status != "reviewed":
                state.unreviewed_findings.update(str(c) for c in f.get("findings") or [])
            ref = _inspection_ref(record)
            if state.last is None or ref.at > state.last.at:
                state.last = ref
            current = state.by_agency.get(ref.agency)
            if current is None or ref.at > current.at:
                state.by_agency[ref.agency] = ref
        elif record.collection == "incidents":
            if f.get("status") != "resolved":
                state.incidents[str(f.get("severity", "sedang"))] += 1
        elif record.collection == "conflicts":
            if f.get("status") == "open":
                state.conflicts += 1
        elif record.collection in ("stock_counts", "stock_levels"):
            state.stock.append(record)
        elif record.collection in ("shifts", "handovers"):
            state.guard.append(record)
    items = list(stock_items)
    return {
        wid: WarehouseFold(
            last=state.last,
            by_agency=state.by_agency,
            drafts=state.drafts,
            awaiting=state.awaiting,
            needs_fix=state.needs_fix,
            incidents={s: state.incidents[s] for s in SEVERITY_ORDER if state.incidents[s]},
            conflicts=state.conflicts,
            stock_discrepancies=sum(1 for ln in reconcile(state.stock, templates, items) if ln.discrepancy),
            open_findings=sorted(state.unreviewed_findings | set(state.last.findings if state.last else [])),
            guard=(kept := kept_with_spare(state.guard)).guard,
            guard_spare=kept.spare,
            guard_revisions=kept.revisions,
            guard_complete=kept.complete,
        )
        for wid, state in states.items()
    }


def overview(
    warehouses: Iterable[Warehouse],
    records: Iterable[Record],
    devices: Iterable[DeviceSyncState],
    templates: Mapping[str, Template],
    stock_items: Iterable[StockItemType],
    *,
    settings: Settings,
    now: datetime,
    revision: int,
    agency: str | None = None,
) -> Overview:
    """`records`: non-deleted inspections, incidents, stock counts, stock levels, conflicts, shifts
    and handovers of the warehouses. With `agency`, "last inspection" and "overdue" are that agency's."""
    warehouses = list(warehouses)
    folds = fold([w.id for w in warehouses], records, templates, stock_items)
    return compose(warehouses, folds, devices, settings=settings, now=now, revision=revision, agency=agency)


def compose(
    warehouses: Iterable[Warehouse],
    folds: Mapping[str, WarehouseFold],
    devices: Iterable[DeviceSyncState],
    *,
    settings: Settings,
    now: datetime,
    revision: int,
    agency: str | None = None,
) -> Overview:
    """The overview from each warehouse's fold, its people's devices and the time now: what is
    overdue, which devices are stale, and each warehouse's status. A warehouse without a fold is
    shown as one without records."""
    interval = settings.inspection_interval_hours
    stale_before = now - timedelta(hours=settings.device_stale_hours)
    device_rows: dict[str, list[DeviceRow]] = defaultdict(list)
    for d in devices:
        contact = max(d.last_seen, d.last_push_at or "")
        contact_time = parse_time(contact)
        row = DeviceRow(
            device_id=d.device_id,
            user_id=d.user_id,
            name=d.name,
            client_id=d.client_id,
            last_contact=contact,
            last_push_at=d.last_push_at,
            missing_attachments=d.missing_attachments,
            stale=contact_time is None or contact_time < stale_before,
            warehouses=d.warehouses,
        )
        for warehouse_id in d.warehouses:
            device_rows[warehouse_id].append(row)

    empty = WarehouseFold()
    rows: list[WarehouseOverview] = []
    for w in warehouses:
        state = folds.get(w.id, empty)
        last = state.by_agency.get(agency) if agency else state.last
        at = parse_time(last.at) if last else None
        hours = round((now - at).total_seconds() / 3600, 1) if at else None
        overdue = hours is None or hours > interval
        findings = list(state.open_findings)
        mine = sorted(device_rows.get(w.id, []), key=lambda r: (not r.stale, r.last_contact))
        flags: list[str] = []
        if state.incidents.get("kritis") or state.incidents.get("tinggi"):
            flags.append("critical_incident")
        if overdue:
            flags.append("overdue")
        if findings:
            flags.append("findings")
        if sum(state.incidents.values()):
            flags.append("incidents")
        if state.stock_discrepancies:
            flags.append("stock")
        if state.conflicts:
            flags.append("conflicts")
        if state.awaiting:
            flags.append("needs_review")
        if any(r.stale or r.missing_attachments for r in mine):
            flags.append("stale_devices")
        guard = guard_flags(state.guard, now, settings.handover_confirm_minutes)
        flags += guard.flags
        level: Status = (
            "critical"
            if "critical_incident" in flags
            else "overdue"
            if overdue
            else "attention"
            if flags
            else "ok"
        )
        rows.append(
            WarehouseOverview(
                warehouse=w,
                status=level,
                flags=flags,
                last_inspection=last,
                last_by_agency=dict(state.by_agency),
                hours_since_inspection=hours,
                overdue=overdue,
                drafts=state.drafts,
                awaiting_review=state.awaiting,
                needs_fix=state.needs_fix,
                open_findings=findings,
                open_incidents=dict(state.incidents),
                stock_discrepancies=state.stock_discrepancies,
                open_conflicts=state.conflicts,
                devices=mine,
                guard=guard,
            )
        )
    return Overview(
        generated_at=iso(now),
        revision=revision,
        interval_hours=interval,
        device_stale_hours=settings.device_stale_hours,
        warehouses=rows,
        total=len(rows),
    )


def filter_and_sort(
    rows: list[WarehouseOverview],
    *,
    kota: str | None = None,
    kecamatan: str | None = None,
    status: str | None = None,
    sort: str = "status",
) -> list[WarehouseOverview]:
    """Rows of one kota/kabupaten and/or kecamatan and/or with one status or flag, sorted by status
    (most urgent first), name, kecamatan, or time since the last inspection (longest first)."""
    if kota:
        rows = [r for r in rows if r.warehouse.kota.lower() == kota.lower()]
    if kecamatan:
        rows = [r for r in rows if r.warehouse.kecamatan.lower() == kecamatan.lower()]
    if status:
        rows = [r for r in rows if r.status == status or status in r.flags]

    def name(r: WarehouseOverview) -> tuple[str, str]:
        return (r.warehouse.name.lower(), r.warehouse.id)

    if sort == "name":
        return sorted(rows, key=name)
    if sort == "kecamatan":
        return sorted(rows, key=lambda r: (r.warehouse.kecamatan.lower(), *name(r)))
    if sort == "last_inspection":
        return sorted(rows, key=lambda r: (-(r.hours_since_inspection or 1e9), *name(r)))
    return sorted(rows, key=lambda r: (STATUS_ORDER.index(r.status), -len(r.flags), *name(r)))


# -- stock reconciliation ----------------------------------------------------------------------------
class CountEntry(Struct, kw_only=True, frozen=True):
    value: int | float
    at: str
    """Time of the count by its clock stamp (see the module docstring)."""
    source: Literal["stock_count", "inspection"]
    record_id: str
    by: str
    agency: str = ""
    damaged_light: int | None = None
    damaged_heavy: int | None = None
    note: str = ""
    stamp: str = ""
    expected: int | None = None
    """What this count was compared with: the server's stock level when it was counted (a stock
    count records it; an inspection's answer is compared with the level now)."""
    difference: int | float | None = None
    settled: bool = False
    """A supervisor has reviewed it: its inspection was reviewed, or (a count of its own) an
    inspection of the warehouse was reviewed after it reached the server."""


def _is_open(entry: CountEntry, tolerance: float) -> bool:
    """A count still waiting for a supervisor that differs from what it was compared with, or
    reports damage."""
    off = entry.difference is not None and abs(entry.difference) > tolerance
    return not entry.settled and (off or bool(entry.damaged_light) or bool(entry.damaged_heavy))


class StockLine(Struct, kw_only=True):
    warehouse_id: str
    item_type: str
    name: str
    unit: str
    expected: int | None
    last: CountEntry | None
    difference: int | float | None
    """last counted - expected."""
    tolerance: float
    discrepancy: bool
    """The last count differs from expected, or an unreviewed count differs or reports damage."""
    history: list[CountEntry]
    """Newest first (at most 20)."""
    open_counts: list[CountEntry] = []
    """Counts not yet reviewed that differ from what they were compared with or report damage,
    newest first: a later clean count never hides them."""
    damaged_light: int = 0
    damaged_heavy: int = 0
    """Damage reported by the newest count that reported any (until a count reports none)."""


def _stock_answers(template: Template | None) -> list[TemplateItem]:
    return [i for i in template.items() if i.stock_item] if template else []


def reconcile(
    records: Iterable[Record],
    templates: Mapping[str, Template],
    stock_items: Iterable[StockItemType],
    *,
    history: int = 20,
) -> list[StockLine]:
    """Per warehouse and item type: expected (stock level) against the last count, from a stock
    count record or a submitted inspection's number answer for that item; every count kept with
    who counted it, when, and what it was compared with; the unreviewed ones that differ or report
    damage stay listed (`open_counts`) whatever was counted after them."""
    expected: dict[tuple[str, str], int] = {}
    counts: dict[tuple[str, str], list[CountEntry]] = defaultdict(list)
    tolerance: dict[tuple[str, str], float] = {}
    reviewed: dict[str, str] = {}
    """Reviewed inspections: id -> server time of the review."""
    live = [r for r in records if not r.deleted]
    for record in live:
        f = record.fields
        if record.collection == "stock_levels" and isinstance(f.get("expected"), int):
            expected[(record.warehouse_id, str(f.get("item_type")))] = f["expected"]
        elif record.collection == "inspections" and f.get("status") == "reviewed":
            reviewed[record.id] = str(f.get("reviewed_at") or record.updated_at)
    last_review: dict[str, str] = {}
    for record in live:
        if record.id in reviewed:
            last_review[record.warehouse_id] = max(
                last_review.get(record.warehouse_id, ""), reviewed[record.id]
            )
    for record in live:
        f = record.fields
        if record.collection == "stock_counts" and isinstance(f.get("counted"), int):
            stamp = record.field_hlcs.get("counted", "")
            key = (record.warehouse_id, str(f.get("item_type")))
            was = f.get("expected") if isinstance(f.get("expected"), int) else None
            linked = str(f.get("inspection_id") or "")
            counts[key].append(
                CountEntry(
                    value=f["counted"],
                    at=hlc_time(stamp) or record.created_at,
                    source="stock_count",
                    record_id=record.id,
                    by=str(f.get("counted_by") or record.created_by),
                    agency=str(f.get("counter_agency", "")),
                    damaged_light=f.get("damaged_light"),
                    damaged_heavy=f.get("damaged_heavy"),
                    note=str(f.get("note", "")),
                    stamp=stamp,
                    expected=was,
                    difference=f["counted"] - was if was is not None else None,
                    settled=linked in reviewed
                    or last_review.get(record.warehouse_id, "") > record.created_at,
                )
            )
        elif record.collection == "inspections" and f.get("status") in DONE_INSPECTION:
            for item in _stock_answers(templates.get(str(f.get("template_id")))):
                value = f.get(answer_field(item))
                if isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                key = (record.warehouse_id, str(item.stock_item))
                tolerance[key] = item.tolerance
                stamp = record.field_hlcs.get(answer_field(item), "")
                now_expected = expected.get(key)
                counts[key].append(
                    CountEntry(
                        value=value,
                        at=hlc_time(stamp) or record.created_at,
                        source="inspection",
                        record_id=record.id,
                        by=str(f.get("inspector_id") or record.created_by),
                        agency=str(f.get("inspector_agency", "")),
                        stamp=stamp,
                        expected=now_expected,
                        difference=value - now_expected if now_expected is not None else None,
                        settled=record.id in reviewed,
                    )
                )
    names = {i.code: i for i in stock_items}
    order = {code: n for n, code in enumerate(sorted(names, key=lambda c: (names[c].sort_order, c)))}
    lines: list[StockLine] = []
    for key in sorted(set(expected) | set(counts), key=lambda k: (k[0], order.get(k[1], 10**6), k[1])):
        warehouse_id, item_type = key
        entries = sorted(counts.get(key, []), key=lambda e: (e.stamp or e.at, e.record_id), reverse=True)
        last = entries[0] if entries else None
        exp = expected.get(key)
        difference = last.value - exp if last is not None and exp is not None else None
        tol = tolerance.get(key, 0.0)
        kind = names.get(item_type)
        still_open = [e for e in entries if _is_open(e, tol)]
        damage = next(
            (e for e in entries if e.damaged_light is not None or e.damaged_heavy is not None), None
        )
        lines.append(
            StockLine(
                warehouse_id=warehouse_id,
                item_type=item_type,
                name=kind.name if kind else item_type,
                unit=kind.unit if kind else "",
                expected=exp,
                last=last,
                difference=difference,
                tolerance=tol,
                discrepancy=(difference is not None and abs(difference) > tol) or bool(still_open),
                history=entries[:history],
                open_counts=still_open,
                damaged_light=(damage.damaged_light or 0) if damage else 0,
                damaged_heavy=(damage.damaged_heavy or 0) if damage else 0,
            )
        )
    return lines


# -- incidents ---------------------------------------------------------------------------------------
class IncidentRow(Struct, kw_only=True):
    id: str
    warehouse_id: str
    revision: int
    fields: dict[str, Any]
    created_at: str
    created_by: str
    hours_to_acknowledge: float | None
    hours_to_resolve: float | None
    open_hours: float | None
    """Hours since it was reported, while not resolved."""


def incident_row(record: Record, now: datetime) -> IncidentRow:
    f = record.fields
    resolved = f.get("status") == "resolved"
    return IncidentRow(
        id=record.id,
        warehouse_id=record.warehouse_id,
        revision=record.revision,
        fields=f,
        created_at=record.created_at,
        created_by=record.created_by,
        hours_to_acknowledge=hours_between(record.created_at, f.get("acknowledged_at")),
        hours_to_resolve=hours_between(record.created_at, f.get("resolved_at")) if resolved else None,
        open_hours=None if resolved else hours_between(record.created_at, iso(now)),
    )


def incident_sort_key(row: IncidentRow) -> tuple[int, int, str]:
    status = {"open": 0, "acknowledged": 1, "resolved": 2}.get(str(row.fields.get("status")), 3)
    severity = str(row.fields.get("severity"))
    rank = SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)
    return (status, rank, "~" + row.created_at if status == 2 else row.created_at)


# -- charts ------------------------------------------------------------------------------------------
class Series(Struct, kw_only=True, frozen=True):
    key: str
    values: list[int]


class DailyChart(Struct, kw_only=True, frozen=True):
    days: list[str]
    series: list[Series]


class SectionCount(Struct, kw_only=True, frozen=True):
    template_id: str
    """The newest version of the checklist that has this section."""
    section: str
    title: Label
    """The section's title per language (a plain string for older checklist versions)."""
    count: int


class Charts(Struct, kw_only=True, frozen=True):
    start: str
    end: str
    """Inclusive local dates."""
    inspections_per_day: DailyChart
    """Submitted inspections per local day, one series per agency."""
    findings_by_section: list[SectionCount]
    """Findings of the inspections submitted in the range, per checklist section (one per section
    across a checklist's versions, named as in the newest version having it)."""
    incidents_by_category: DailyChart
    """Reported incidents per local day, one series per category."""


def local_day(value: Any, tz: timezone) -> date | None:
    moment = parse_time(value)
    return moment.astimezone(tz).date() if moment else None


def charts(
    records: Iterable[Record], templates: Mapping[str, Template], *, start: date, end: date, tz: timezone
) -> Charts:
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    index = {d: n for n, d in enumerate(days)}
    per_agency: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    per_category: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    sections: Counter[tuple[str, str]] = Counter()
    for record in records:
        if record.deleted:
            continue
        f = record.fields
        if record.collection == "inspections" and f.get("status") in DONE_INSPECTION:
            day = local_day(f.get("submitted_at"), tz)
            if day not in index:
                continue
            assert day is not None
            per_agency[str(f.get("inspector_agency", ""))][index[day]] += 1
            template = templates.get(str(f.get("template_id")))
            if template is None:
                continue
            section_of = {i.code: s.code for s in template.sections for i in s.items}
            for code in f.get("findings") or []:
                if code in section_of:
                    sections[(template.code, section_of[code])] += 1
        elif record.collection == "incidents":
            day = local_day(record.created_at, tz)
            if day in index:
                assert day is not None
                per_category[str(f.get("category", "lainnya"))][index[day]] += 1
    # One bar per section of a checklist across its versions (the findings are those the sync
    # core recorded at submission); its title and place are those of the newest version having it.
    titles: dict[tuple[str, str], tuple[str, Label]] = {}
    order: dict[tuple[str, str], int] = {}
    for t in sorted(templates.values(), key=lambda t: (t.code, t.version)):
        for n, s in enumerate(t.sections):
            titles[(t.code, s.code)] = (t.id, s.title)
            order[(t.code, s.code)] = n
    day_names = [d.isoformat() for d in days]
    return Charts(
        start=start.isoformat(),
        end=end.isoformat(),
        inspections_per_day=DailyChart(
            days=day_names, series=[Series(key=k, values=v) for k, v in sorted(per_agency.items())]
        ),
        findings_by_section=[
            SectionCount(template_id=titles[k][0], section=k[1], title=titles[k][1], count=n)
            for k, n in sorted(sections.items(), key=lambda kv: (kv[0][0], order[kv[0]]))
        ],
        incidents_by_category=DailyChart(
            days=day_names, series=[Series(key=k, values=v) for k, v in sorted(per_category.items())]
        ),
    )
