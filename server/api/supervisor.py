"""The supervisor view's reads: overview, inspections, incidents, conflicts, stock, charts, audit.

Read-only on purpose. Every decision a supervisor takes (review, request changes, acknowledge,
resolve, decide a conflict) is a mutation the supervisor's browser pushes to /api/sync/push like a
phone, so it is merged, audited and delivered to the phones by the normal pull feed.

Guards: supervisors and admins only; every warehouse asked for must be in the actor's scope
(403 out_of_scope), and without one the actor's whole scope is used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Controller, get
from litestar.datastructures import State
from litestar.params import Parameter, QueryParameter
from msgspec import Struct

from server import reports, summaries
from server.auth import Session, check_scope, require_role
from server.deps import ActorDep, SessionDep, StorageDep
from server.errors import ApiError
from server.models import DeviceLabel, iso
from server.overview import build_overview, collect, overview_flights, overview_page, templates_for
from server.storage.base import AuditCursor, AuditRow
from sync.domain import Actor, Label, Template, TemplateItem
from sync.messages import Mutation
from sync.store import Record

T = TypeVar("T")
K = TypeVar("K")

SUPERVISORS = require_role("supervisor", "admin")

WarehouseIds = Annotated[
    list[str] | None,
    QueryParameter(name="warehouse_id", description="warehouse id (repeatable); default: all in scope"),
]
DateFrom = Annotated[date | None, QueryParameter(name="from", description="first local day (YYYY-MM-DD)")]
DateTo = Annotated[date | None, QueryParameter(name="to", description="last local day (inclusive)")]


# -- helpers shared by the supervisor, export and live endpoints ---------------------------------------
def settings_of(state: State) -> reports.Settings:
    found = state.get("report_settings")
    return found if isinstance(found, reports.Settings) else reports.Settings.from_env()


def scoped(actor: Actor, warehouse_ids: Sequence[str] | None) -> list[str]:
    """The warehouses asked for (each must be in scope), or the whole scope."""
    if warehouse_ids:
        for warehouse_id in warehouse_ids:
            check_scope(actor, warehouse_id)
        return sorted(set(warehouse_ids))
    return sorted(actor.warehouses)


def is_global(session: Session) -> bool:
    """An admin without assignments sees everything, the log entries of no warehouse included."""
    return session.user.role == "admin" and not session.user.warehouses


FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


def check_days(*days: date | None) -> None:
    """400 bad_range for a day outside 2000-2099 (date arithmetic near year 1 or 9999 overflows)."""
    for day in days:
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            raise ApiError(400, "bad_range", "Tanggal harus antara 2000-01-01 dan 2099-12-31")


def day_bounds(
    start: date | None, end: date | None, settings: reports.Settings
) -> tuple[str | None, str | None]:
    """Server-time ISO bounds [from, to) of local days (inclusive `end`)."""
    check_days(start, end)
    tz = settings.tz
    low = iso(datetime.combine(start, time(0), tz)) if start else None
    high = iso(datetime.combine(end + timedelta(days=1), time(0), tz)) if end else None
    if low and high and low >= high:
        raise ApiError(400, "bad_range", "Tanggal awal harus sebelum tanggal akhir")
    return low, high


# -- response shapes ---------------------------------------------------------------------------------
class RecordView(Struct, kw_only=True, frozen=True):
    id: str
    collection: str
    warehouse_id: str
    revision: int
    fields: dict[str, Any]
    deleted: bool
    created_by: str
    created_at: str
    updated_by: str
    updated_at: str

    @classmethod
    def of(cls, r: Record) -> RecordView:
        return cls(
            id=r.id,
            collection=r.collection,
            warehouse_id=r.warehouse_id,
            revision=r.revision,
            fields=r.fields,
            deleted=r.deleted,
            created_by=r.created_by,
            created_at=r.created_at,
            updated_by=r.updated_by,
            updated_at=r.updated_at,
        )


class AuditView(Struct, kw_only=True, frozen=True):
    id: int
    at: str
    kind: str
    actor_id: str
    actor_agency: str
    device: str
    warehouse_id: str | None
    subject: str
    detail: dict[str, Any]
    hash: str
    device_label: DeviceLabel | None = None
    """The device by the name its officer gave it (and its model); None if not a known device."""

    @classmethod
    def of(cls, row: AuditRow, devices: Mapping[str, DeviceLabel] | None = None) -> AuditView:
        e = row.entry
        return cls(
            id=row.id,
            at=e.at,
            kind=e.kind,
            actor_id=e.actor_id,
            actor_agency=e.actor_agency,
            device=e.device,
            warehouse_id=e.warehouse_id,
            subject=e.subject,
            detail=e.detail,
            hash=row.hash,
            device_label=(devices or {}).get(e.device),
        )


class AuditPage(Struct, kw_only=True, frozen=True):
    entries: list[AuditView]
    next_before: str | None
    """Pass as `before` for the next (older) page; None at the end. Opaque to clients."""


def audit_cursor_text(cursor: AuditCursor) -> str:
    """A page's end as one query value: time, id, then the chain (a warehouse id, '' for the system
    chain), so the chain may hold any character."""
    return f"{cursor.at}~{cursor.id}~{cursor.chain}"


def parse_audit_cursor(text: str) -> AuditCursor:
    at, _, rest = text.partition("~")
    number, sep, chain = rest.partition("~")
    if not (at and sep and number.isdigit() and 0 < int(number) < 2**63):
        raise ApiError(400, "invalid_cursor", "Penanda halaman jejak audit tidak dikenal; muat ulang daftar")
    return AuditCursor(at, chain, int(number))


class InspectionSummary(Struct, kw_only=True, frozen=True):
    id: str
    warehouse_id: str
    revision: int
    status: str
    shift: str
    started_at: str
    submitted_at: str
    inspector_id: str
    inspector_agency: str
    co_inspectors: list[str]
    findings: list[str]
    reviewed_by: str
    review_comment: str
    created_at: str


class InspectionDetail(Struct, kw_only=True, frozen=True):
    record: RecordView
    template: Template | None
    stock_counts: list[RecordView]
    conflicts: list[RecordView]
    """Conflict records about this inspection (open ones first)."""
    timeline: list[AuditView]
    """Every mutation of this inspection, oldest first."""


class ConflictItem(Struct, kw_only=True, frozen=True):
    conflict: RecordView
    record_exists: bool
    record_deleted: bool
    current_value: Any
    """The field's value on the server now (may differ from server_value if it changed since)."""
    record_status: str
    field_label: Label
    """The checklist item's label (per language) for an answer, else the field's name."""
    record_summary: dict[str, Any] = {}
    """What names the record for people: an incident's title and category, an inspection's start,
    shift and berita acara number, a count's item (the card's title and its link)."""
    item: TemplateItem | None = None
    """The checklist item an answer conflict is about: its choices' labels and unit name the values."""


class RejectedItem(Struct, kw_only=True, frozen=True):
    client_id: str
    seq: int
    user_id: str
    warehouse_id: str | None
    at: str
    collection: str
    record_id: str
    op: str
    code: str
    message: str
    fields: dict[str, Any]
    """What the phone tried to write."""
    current: dict[str, Any]
    """The same fields' values on the server now."""
    record_exists: bool
    record_revision: int
    record_status: str
    device_label: DeviceLabel | None = None
    """The phone that sent it, by the name its officer gave it."""


class ConflictQueue(Struct, kw_only=True, frozen=True):
    conflicts: list[ConflictItem]
    rejected: list[RejectedItem]


SUMMARY_FIELDS = ("title", "category", "severity", "started_at", "shift", "report_number", "item_type")


def _item(field: str, template: Template | None) -> TemplateItem | None:
    if template and field[:2] in ("a.", "p."):
        return next((i for i in template.items() if i.code == field[2:]), None)
    return None


def _label(field: str, template: Template | None) -> Label:
    if template and field[:2] in ("a.", "p."):
        for item in template.items():
            if item.code == field[2:]:
                return item.label
    return field


_mutation = msgspec.json.Decoder(Mutation).decode


class SupervisorController(Controller):
    path = "/api/supervisor"
    tags = ["supervisor"]  # noqa: RUF012
    guards = [SUPERVISORS]  # noqa: RUF012

    @get("/overview")
    async def overview(
        self,
        actor: ActorDep,
        storage: StorageDep,
        state: State,
        kota: Annotated[str | None, Parameter(max_length=60)] = None,
        kecamatan: Annotated[str | None, Parameter(max_length=60)] = None,
        agency: Annotated[str | None, Parameter(pattern=r"^[A-Z][A-Z_]{1,19}$")] = None,
        status: Annotated[str | None, Parameter(max_length=30)] = None,
        sort: Annotated[str, Parameter(pattern=r"^(status|name|kecamatan|last_inspection)$")] = "status",
        limit: Annotated[int | None, Parameter(ge=1, le=500)] = None,
        offset: Annotated[int, Parameter(ge=0, le=1_000_000)] = 0,
    ) -> reports.Overview:
        """One row per warehouse in scope: last inspection (of `agency` when given) and whether it is
        overdue, open findings, open incidents by severity, stock discrepancies, open conflicts,
        devices that have not synced for long. `revision` is the cursor for /api/live.

        Filtered by `kota` and/or `kecamatan` and/or a status or flag, sorted, then one page of
        `limit` rows from `offset` (all rows without `limit`); `total` counts the rows matching the
        filters (`by_status` counts them by status), `kotas` and `kecamatans` name what the filters
        can choose. Each row is read from
        its warehouse's summary: the cost grows with the warehouses in scope, not with their
        records."""
        settings = settings_of(state)
        scope = sorted(actor.warehouses)

        async def build() -> reports.Overview:
            return await build_overview(storage, state, scope, settings=settings, agency=agency)

        built = await overview_flights(state).run((tuple(scope), agency), build)
        return overview_page(
            built, kota=kota, kecamatan=kecamatan, status=status, sort=sort, limit=limit, offset=offset
        )

    @get("/people")
    async def people(self, actor: ActorDep, storage: StorageDep) -> list[reports.Person]:
        """Names of the people a supervisor meets in the records: everyone assigned to a warehouse
        in scope, and the supervisors and admins who decide."""
        users = [
            u for u in await storage.users() if set(u.warehouses) & actor.warehouses or u.role != "officer"
        ]
        return list(reports.people(users).values())

    @get("/inspections")
    async def inspections(
        self,
        actor: ActorDep,
        storage: StorageDep,
        state: State,
        warehouse_ids: WarehouseIds = None,
        status: Annotated[str | None, Parameter(pattern=r"^(draft|submitted|needs_fix|reviewed)$")] = None,
        start: DateFrom = None,
        end: DateTo = None,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 200,
    ) -> list[InspectionSummary]:
        """Inspections, newest first (by server time of creation)."""
        low, high = day_bounds(start, end, settings_of(state))
        rows: list[InspectionSummary] = []
        async for r in storage.iter_records(
            scoped(actor, warehouse_ids), ["inspections"], created_from=low, created_to=high
        ):
            f = r.fields
            if status and f.get("status") != status:
                continue
            rows.append(
                InspectionSummary(
                    id=r.id,
                    warehouse_id=r.warehouse_id,
                    revision=r.revision,
                    status=str(f.get("status", "draft")),
                    shift=str(f.get("shift", "")),
                    started_at=str(f.get("started_at", "")),
                    submitted_at=str(f.get("submitted_at", "")),
                    inspector_id=str(f.get("inspector_id", r.created_by)),
                    inspector_agency=str(f.get("inspector_agency", "")),
                    co_inspectors=list(f.get("co_inspectors") or []),
                    findings=list(f.get("findings") or []),
                    reviewed_by=str(f.get("reviewed_by", "")),
                    review_comment=str(f.get("review_comment", "")),
                    created_at=r.created_at,
                )
            )
        rows.sort(key=lambda i: (i.submitted_at or i.created_at, i.id), reverse=True)
        return rows[:limit]

    @get("/inspections/{inspection_id:str}")
    async def inspection(
        self,
        actor: ActorDep,
        storage: StorageDep,
        inspection_id: Annotated[str, Parameter(max_length=64)],
    ) -> InspectionDetail:
        """An inspection with its template, stock counts, conflicts and timeline (from the audit log)."""
        record = (await storage.get_records([inspection_id])).get(inspection_id)
        if record is None or record.collection != "inspections":
            raise ApiError(404, "not_found", "Inspeksi tidak ditemukan", id=inspection_id)
        check_scope(actor, record.warehouse_id)
        template_id = str(record.fields.get("template_id", ""))
        template = await storage.get_template(template_id) if template_id else None
        counts: list[RecordView] = []
        conflicts: list[RecordView] = []
        async for r in storage.iter_records([record.warehouse_id], ["stock_counts", "conflicts"]):
            if r.collection == "stock_counts" and r.fields.get("inspection_id") == inspection_id:
                counts.append(RecordView.of(r))
            elif r.collection == "conflicts" and r.fields.get("record_id") == inspection_id:
                conflicts.append(RecordView.of(r))
        conflicts.sort(key=lambda c: (c.fields.get("status") != "open", c.revision))
        timeline = await storage.audit_search(
            warehouse_ids=[record.warehouse_id], subject=f"inspections/{inspection_id}", limit=500
        )
        devices = await storage.device_labels(sorted({row.entry.device for row in timeline}))
        return InspectionDetail(
            record=RecordView.of(record),
            template=template,
            stock_counts=counts,
            conflicts=conflicts,
            timeline=[AuditView.of(row, devices) for row in reversed(timeline)],
        )

    @get("/incidents")
    async def incidents(
        self,
        actor: ActorDep,
        storage: StorageDep,
        state: State,
        warehouse_ids: WarehouseIds = None,
        status: Annotated[str | None, Parameter(pattern=r"^(open|acknowledged|resolved|unresolved)$")] = None,
        start: DateFrom = None,
        end: DateTo = None,
    ) -> list[reports.IncidentRow]:
        """The incident queue: open first, then acknowledged, most severe first; with the hours it
        took to acknowledge and to resolve (server times). `unresolved` = open or acknowledged."""
        low, high = day_bounds(start, end, settings_of(state))
        now = datetime.now(UTC)
        rows = []
        async for r in storage.iter_records(
            scoped(actor, warehouse_ids), ["incidents"], created_from=low, created_to=high
        ):
            current = r.fields.get("status", "open")
            if status == "unresolved" and current == "resolved":
                continue
            if status and status != "unresolved" and current != status:
                continue
            rows.append(reports.incident_row(r, now))
        return sorted(rows, key=reports.incident_sort_key)

    @get("/conflicts")
    async def conflicts(
        self,
        actor: ActorDep,
        storage: StorageDep,
        warehouse_ids: WarehouseIds = None,
        status: Annotated[str, Parameter(pattern=r"^(open|auto|resolved|all)$")] = "open",
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 200,
        offset: Annotated[int, Parameter(ge=0, le=2**31)] = 0,
    ) -> ConflictQueue:
        """Conflict records (both values, who and when) and rejected mutations (what the phone tried,
        beside the server's value now). A conflict is decided with a `resolve` mutation pushed to
        /api/sync/push; the decision reaches the phones by the pull feed."""
        scope = scoped(actor, warehouse_ids)
        found = [
            r
            async for r in storage.iter_records(scope, ["conflicts"])
            if status == "all" or r.fields.get("status") == status
        ]
        found.sort(key=lambda r: (r.fields.get("status") != "open", -r.revision))
        found = found[offset : offset + limit]
        rejected = await storage.rejected_outcomes(scope, limit, offset)
        mutations = {(o.client_id, o.seq): _mutation(o.mutation) for o in rejected}
        targets = await storage.get_records(
            sorted({str(r.fields.get("record_id")) for r in found} | {o.record_id for o in rejected})
        )
        templates = await templates_for(storage, summaries.template_ids(targets.values()))

        def template_of(record: Record | None) -> Template | None:
            return templates.get(str(record.fields.get("template_id"))) if record else None

        items = []
        for c in found:
            target = targets.get(str(c.fields.get("record_id")))
            name = str(c.fields.get("field", ""))
            items.append(
                ConflictItem(
                    conflict=RecordView.of(c),
                    record_exists=target is not None,
                    record_deleted=bool(target and target.deleted),
                    current_value=(
                        (target.deleted if name == "_deleted" else target.fields.get(name))
                        if target
                        else None
                    ),
                    record_status=str(target.fields.get("status", "")) if target else "",
                    field_label=_label(name, template_of(target)),
                    record_summary={k: target.fields[k] for k in SUMMARY_FIELDS if k in target.fields}
                    if target
                    else {},
                    item=_item(name, template_of(target)),
                )
            )
        rejected_items = []
        devices = await storage.device_labels(sorted({o.client_id for o in rejected}))
        for o in rejected:
            m = mutations[(o.client_id, o.seq)]
            target = targets.get(o.record_id)
            rejected_items.append(
                RejectedItem(
                    client_id=o.client_id,
                    seq=o.seq,
                    user_id=o.user_id,
                    warehouse_id=o.warehouse_id,
                    at=o.at,
                    collection=o.collection,
                    record_id=o.record_id,
                    op=o.op,
                    code=o.result.code or "",
                    message=o.result.message or "",
                    fields=dict(m.fields),
                    current={k: target.fields.get(k) for k in m.fields} if target else {},
                    record_exists=target is not None,
                    record_revision=target.revision if target else 0,
                    record_status=str(target.fields.get("status", "")) if target else "",
                    device_label=devices.get(o.client_id),
                )
            )
        return ConflictQueue(conflicts=items, rejected=rejected_items)

    @get("/stock")
    async def stock(
        self, actor: ActorDep, storage: StorageDep, warehouse_ids: WarehouseIds = None
    ) -> list[reports.StockLine]:
        """Expected vs last counted per item type per warehouse, with the history of counts."""
        records = await collect(
            storage, scoped(actor, warehouse_ids), ["stock_levels", "stock_counts", "inspections"]
        )
        return reports.reconcile(
            records,
            await templates_for(storage, summaries.template_ids(records)),
            await storage.stock_item_types(),
        )

    @get("/charts")
    async def charts(
        self,
        actor: ActorDep,
        storage: StorageDep,
        state: State,
        warehouse_ids: WarehouseIds = None,
        start: DateFrom = None,
        end: DateTo = None,
    ) -> reports.Charts:
        """Inspections per day per agency, findings by template section, incidents by category per
        day, over local days (default: the last 14)."""
        settings = settings_of(state)
        check_days(start, end)
        end = end or datetime.now(settings.tz).date()
        start = start or end - timedelta(days=13)
        if (end - start).days > 366:
            raise ApiError(400, "bad_range", "Rentang paling lama satu tahun")
        low, _ = day_bounds(start, end, settings)
        records = await collect(
            storage, scoped(actor, warehouse_ids), ["inspections", "incidents"], updated_from=low
        )
        return reports.charts(
            records,
            await templates_for(storage, summaries.template_ids(records)),
            start=start,
            end=end,
            tz=settings.tz,
        )

    @get("/audit")
    async def audit(
        self,
        session: SessionDep,
        storage: StorageDep,
        state: State,
        warehouse_ids: WarehouseIds = None,
        q: Annotated[str, Parameter(max_length=100)] = "",
        start: DateFrom = None,
        end: DateTo = None,
        before: Annotated[str | None, Parameter(max_length=300)] = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> AuditPage:
        """The audit trail, newest first: who (and their agency), which device, when, what. `q`
        searches the kind, subject, device, agency, details and people's names."""
        scope = scoped(session.actor, warehouse_ids)
        low, high = day_bounds(start, end, settings_of(state))
        cursor = parse_audit_cursor(before) if before is not None else None
        text = q.strip()
        actor_ids: list[str] = []
        if text:
            needle = text.lower()
            actor_ids = [
                u.id
                for u in await storage.users()
                if needle in u.username.lower() or needle in u.full_name.lower()
            ]
        rows = await storage.audit_search(
            warehouse_ids=scope,
            include_global=is_global(session) and not warehouse_ids,
            query=text,
            actor_ids=actor_ids,
            from_at=low,
            to_at=high,
            before=cursor,
            limit=limit,
        )
        devices = await storage.device_labels(sorted({r.entry.device for r in rows}))
        return AuditPage(
            entries=[AuditView.of(r, devices) for r in rows],
            next_before=audit_cursor_text(rows[-1].cursor) if len(rows) == limit else None,
        )
