"""CSV exports: `GET /api/exports/{inspections|answers|incidents|stock_counts}.csv`.

RFC 4180 (CRLF line ends, quotes doubled), UTF-8, one header row, nothing else in the file. Rows
are streamed from one consistent snapshot read in batches, so a year of a whole city never sits in
memory. `from`/`to` are local days of the server's receipt time (`created_at`): phone clocks are
often wrong, the server's are not; the phone's own times are columns of their own.

`X-Audit-Head` / `X-Audit-Head-Id` carry the audit log's head read right after the export's
snapshot was taken: every change in the file is covered by the hash chain up to that entry, so the
file can later be checked against a verified log.

Free text typed on a phone that starts with = + - @ (a spreadsheet formula) is prefixed with ' so
opening the file cannot run anything (OWASP "CSV injection"); numbers are written as numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import get
from litestar.datastructures import State
from litestar.params import Parameter
from litestar.response import Stream

from server.api.supervisor import SUPERVISORS, DateFrom, DateTo, WarehouseIds, day_bounds, scoped, settings_of
from server.deps import ActorDep, StorageDep
from server.errors import ApiError
from server.models import StockItemType, User, Warehouse
from server.reports import hours_between
from sync.domain import Template, answer_field, text_in
from sync.store import Record

FLUSH_ROWS = 500
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """A CSV cell: lists joined with '; ', booleans as true/false, formula-like text defused."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, list):
        value = "; ".join(str(v.get("text", v)) if isinstance(v, dict) else str(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


class _Context:
    """What rows need besides the record: names of warehouses, people, items; templates."""

    def __init__(
        self,
        storage: StorageDep,
        warehouses: list[Warehouse],
        users: list[User],
        items: list[StockItemType],
    ) -> None:
        self.storage = storage
        self.warehouses = {w.id: w for w in warehouses}
        self.people = {u.id: u for u in users}
        self.items = {i.code: i for i in items}
        self.templates: dict[str, Template | None] = {}

    def name(self, user_id: Any) -> str:
        user = self.people.get(str(user_id)) if user_id else None
        return user.full_name if user else ""

    def warehouse(self, record: Record) -> list[Any]:
        w = self.warehouses.get(record.warehouse_id)
        return [record.warehouse_id, w.name if w else "", w.kecamatan if w else ""]

    async def template(self, template_id: str) -> Template | None:
        if template_id not in self.templates:
            self.templates[template_id] = await self.storage.get_template(template_id)
        return self.templates[template_id]


WAREHOUSE_COLUMNS = ["warehouse_id", "warehouse_name", "kecamatan"]


async def inspection_rows(r: Record, ctx: _Context) -> list[list[Any]]:
    f = r.fields
    co = f.get("co_inspectors") or []
    found = f.get("confirmations")
    confirmed: dict[str, Any] = found if isinstance(found, dict) else {}
    return [
        [
            r.id,
            *ctx.warehouse(r),
            f.get("template_id"),
            f.get("status"),
            f.get("shift"),
            f.get("started_at"),
            f.get("submitted_at"),
            f.get("inspector_id"),
            ctx.name(f.get("inspector_id")),
            f.get("inspector_agency"),
            [ctx.name(c) or c for c in co],
            [
                f"{ctx.name(c) or c} {confirmed[c].get('at', '')}"
                for c in co
                if isinstance(confirmed.get(c), dict)
            ],
            len(f.get("findings") or []),
            f.get("findings") or [],
            f.get("reviewed_at"),
            f.get("reviewed_by"),
            ctx.name(f.get("reviewed_by")),
            f.get("review_comment"),
            f.get("summary"),
            len(f.get("photos") or []),
            r.created_at,
            r.updated_at,
            r.revision,
        ]
    ]


INSPECTION_COLUMNS = [
    "id",
    *WAREHOUSE_COLUMNS,
    "template_id",
    "status",
    "shift",
    "started_at",
    "submitted_at",
    "inspector_id",
    "inspector_name",
    "inspector_agency",
    "co_inspectors",
    "co_inspectors_confirmed",
    "findings_count",
    "findings",
    "reviewed_at",
    "reviewed_by",
    "reviewer_name",
    "review_comment",
    "summary",
    "photos",
    "created_at",
    "updated_at",
    "revision",
]


async def answer_rows(r: Record, ctx: _Context) -> list[list[Any]]:
    f = r.fields
    template = await ctx.template(str(f.get("template_id", "")))
    if template is None:
        return []
    findings = set(f.get("findings") or [])
    rows = []
    for section in template.sections:
        for item in section.items:
            name = answer_field(item)
            if name not in f:
                continue
            rows.append(
                [
                    r.id,
                    *ctx.warehouse(r),
                    template.id,
                    f.get("status"),
                    f.get("submitted_at"),
                    section.code,
                    text_in(section.title),
                    item.code,
                    text_in(item.label),
                    item.kind,
                    f[name],
                    text_in(item.unit),
                    item.code in findings,
                ]
            )
    return rows


ANSWER_COLUMNS = [
    "inspection_id",
    *WAREHOUSE_COLUMNS,
    "template_id",
    "inspection_status",
    "submitted_at",
    "section",
    "section_title",
    "item_code",
    "item_label",
    "kind",
    "value",
    "unit",
    "is_finding",
]


async def incident_rows(r: Record, ctx: _Context) -> list[list[Any]]:
    f = r.fields
    resolved = f.get("status") == "resolved"
    return [
        [
            r.id,
            *ctx.warehouse(r),
            f.get("category"),
            f.get("severity"),
            f.get("status"),
            f.get("title"),
            f.get("description"),
            f.get("occurred_at"),
            f.get("location"),
            f.get("assigned_agency"),
            f.get("reported_by"),
            ctx.name(f.get("reported_by")),
            f.get("reporter_agency"),
            f.get("notified") or [],
            f.get("action_taken"),
            r.created_at,
            f.get("acknowledged_at"),
            f.get("acknowledged_by"),
            ctx.name(f.get("acknowledged_by")),
            f.get("resolved_at"),
            f.get("resolved_by"),
            ctx.name(f.get("resolved_by")),
            f.get("resolution"),
            hours_between(r.created_at, f.get("acknowledged_at")),
            hours_between(r.created_at, f.get("resolved_at")) if resolved else None,
            len(f.get("photos") or []),
            r.updated_at,
            r.revision,
        ]
    ]


INCIDENT_COLUMNS = [
    "id",
    *WAREHOUSE_COLUMNS,
    "category",
    "severity",
    "status",
    "title",
    "description",
    "occurred_at",
    "location",
    "assigned_agency",
    "reported_by",
    "reporter_name",
    "reporter_agency",
    "notified",
    "action_taken",
    "created_at",
    "acknowledged_at",
    "acknowledged_by",
    "acknowledged_by_name",
    "resolved_at",
    "resolved_by",
    "resolved_by_name",
    "resolution",
    "hours_to_acknowledge",
    "hours_to_resolve",
    "photos",
    "updated_at",
    "revision",
]


async def stock_count_rows(r: Record, ctx: _Context) -> list[list[Any]]:
    f = r.fields
    item = ctx.items.get(str(f.get("item_type")))
    expected, counted = f.get("expected"), f.get("counted")
    difference = counted - expected if isinstance(expected, int) and isinstance(counted, int) else None
    return [
        [
            r.id,
            *ctx.warehouse(r),
            f.get("inspection_id"),
            f.get("item_type"),
            item.name if item else "",
            item.unit if item else "",
            expected,
            counted,
            difference,
            f.get("damaged_light"),
            f.get("damaged_heavy"),
            f.get("note"),
            f.get("counted_at"),
            f.get("counted_by"),
            ctx.name(f.get("counted_by")),
            f.get("counter_agency"),
            r.created_at,
            r.updated_at,
            r.revision,
        ]
    ]


STOCK_COUNT_COLUMNS = [
    "id",
    *WAREHOUSE_COLUMNS,
    "inspection_id",
    "item_type",
    "item_name",
    "unit",
    "expected",
    "counted",
    "difference",
    "damaged_light",
    "damaged_heavy",
    "note",
    "counted_at",
    "counted_by",
    "counter_name",
    "counter_agency",
    "created_at",
    "updated_at",
    "revision",
]

RowMaker = Callable[[Record, _Context], Any]
EXPORTS: dict[str, tuple[str, list[str], RowMaker]] = {
    "inspections": ("inspections", INSPECTION_COLUMNS, inspection_rows),
    "answers": ("inspections", ANSWER_COLUMNS, answer_rows),
    "incidents": ("incidents", INCIDENT_COLUMNS, incident_rows),
    "stock_counts": ("stock_counts", STOCK_COUNT_COLUMNS, stock_count_rows),
}


def _encode_rows(rows: Iterable[list[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([cell(v) for v in row] for row in rows)
    return out.getvalue().encode("utf-8")


@get("/api/exports/{name:str}", guards=[SUPERVISORS], tags=["exports"], media_type="text/csv")
async def export_csv(
    name: Annotated[
        str, Parameter(description="inspections.csv, answers.csv, incidents.csv or stock_counts.csv")
    ],
    actor: ActorDep,
    storage: StorageDep,
    state: State,
    warehouse_ids: WarehouseIds = None,
    start: DateFrom = None,
    end: DateTo = None,
) -> Stream:
    """A CSV of the records in scope (or of the given warehouses), streamed."""
    kind = name.removesuffix(".csv")
    if not name.endswith(".csv") or kind not in EXPORTS:
        raise ApiError(404, "not_found", "Ekspor tidak dikenal", available=[f"{k}.csv" for k in EXPORTS])
    collection, columns, make_rows = EXPORTS[kind]
    scope = scoped(actor, warehouse_ids)
    low, high = day_bounds(start, end, settings_of(state))
    ctx = _Context(
        storage, await storage.warehouses(scope), await storage.users(), await storage.stock_item_types()
    )
    records = aiter(storage.iter_records(scope, [collection], created_from=low, created_to=high))
    first = await anext(records, None)  # opens the snapshot
    head = await storage.audit_head()

    async def body() -> AsyncIterator[bytes]:
        try:
            yield _encode_rows([columns])
            pending: list[list[Any]] = []
            record = first
            while record is not None:
                pending += await make_rows(record, ctx)
                if len(pending) >= FLUSH_ROWS:
                    yield _encode_rows(pending)
                    pending = []
                record = await anext(records, None)
            if pending:
                yield _encode_rows(pending)
        finally:
            close = getattr(records, "aclose", None)
            if close is not None:
                await close()  # ends the snapshot when the client goes away mid-file

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Stream(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="tigapilar-{kind}-{stamp}.csv"',
            "X-Audit-Head": head[1] if head else "",
            "X-Audit-Head-Id": str(head[0]) if head else "0",
        },
    )
