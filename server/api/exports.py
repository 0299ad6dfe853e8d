"""CSV exports: `GET /api/exports/{inspections|answers|incidents|stock_counts}.csv`.

Two forms of the same rows:

- for people (the default, `form=people`, `lang=id|en`): headers in words of the chosen language,
  codes as their labels (statuses, agencies, shifts, categories, answers, findings by the item's
  label), times in the configured local zone written `2026-12-05 09:40` with the zone named in the
  header ("Waktu mulai (WIB)"), ids of people replaced by their names. UTF-8 with a byte-order
  mark, so Excel reads the letters right; for `id` the `;` delimiter and the decimal comma Excel
  with Indonesian regional settings expects (for `en`, `,` and the decimal point).
- for machines (`form=raw`): the columns as stored, snake_case headers, codes, UTC ISO times,
  `,`-separated, no byte-order mark (what it always was).

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
from datetime import UTC, datetime, tzinfo
from typing import Annotated, Any, Literal

import msgspec
from litestar import get
from litestar.datastructures import State
from litestar.params import Parameter
from litestar.response import Stream

from server.api.supervisor import SUPERVISORS, DateFrom, DateTo, WarehouseIds, day_bounds, scoped, settings_of
from server.deps import ActorDep, StorageDep
from server.errors import ApiError
from server.models import StockItemType, User, Warehouse
from server.reports import hours_between, parse_time
from server.words import agency_label, answer_text
from sync.domain import Template, answer_field, text_in
from sync.store import Record
from sync.vocabulary import Language, has_word, word
from sync.vocabulary import zone_name as vocabulary_zone

FLUSH_ROWS = 500
BOM = "\ufeff".encode()
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any, decimal_comma: bool = False) -> Any:
    """A CSV cell: lists joined with '; ', booleans as true/false, formula-like text defused;
    a fractional number with a decimal comma where the reader's spreadsheet expects one."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        return str(value).replace(".", ",") if decimal_comma else value
    if isinstance(value, list):
        value = "; ".join(str(v.get("text", v)) if isinstance(v, dict) else str(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


class Form:
    """How values are written: raw (codes, UTC ISO times) or for people in one language."""

    def __init__(self, people: bool, lang: Language, tz: tzinfo, offset_hours: float) -> None:
        self.people = people
        self.lang = lang
        self.tz = tz
        self.zone = vocabulary_zone(int(offset_hours)) if float(offset_hours).is_integer() else ""

    def word(self, prefix: str, code: Any) -> Any:
        """A code as its word (`status.inspections.draft` → "Draf") in the people's form."""
        if not self.people or code in (None, ""):
            return code
        key = f"{prefix}.{code}"
        return word(key, self.lang) if has_word(key) else code

    def agency(self, code: Any) -> Any:
        return agency_label(code, self.lang) if self.people and code else code

    def time(self, value: Any) -> Any:
        """Local time `2026-12-05 09:40` (the zone is named in the header), which spreadsheets read
        as a date in any regional setting; the raw form keeps the stored UTC ISO text."""
        if not self.people:
            return value
        moment = parse_time(value)
        return moment.astimezone(self.tz).strftime("%Y-%m-%d %H:%M") if moment else value

    def yes(self, value: bool) -> Any:
        return word("answer.ya" if value else "answer.tidak", self.lang) if self.people else value


class _Context:
    """What rows need besides the record: names of warehouses, people, items; templates."""

    def __init__(
        self,
        storage: StorageDep,
        warehouses: list[Warehouse],
        users: list[User],
        items: list[StockItemType],
        form: Form,
    ) -> None:
        self.storage = storage
        self.form = form
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


class Column(msgspec.Struct, frozen=True):
    """A column: its raw (machine) name, the word heading it for people, and whether people get it
    at all (ids and codes that have a column in words beside them do not). `time`: a local time,
    whose header names the zone."""

    name: str
    header: str
    people: bool = True
    time: bool = False


def _c(name: str, header: str, *, people: bool = True, time: bool = False) -> Column:
    return Column(name, header, people, time)


WAREHOUSE_COLUMNS = [
    _c("warehouse_id", "export.warehouse_id", people=False),
    _c("warehouse_name", "export.warehouse"),
    _c("kecamatan", "export.kecamatan"),
]


async def inspection_rows(r: Record, ctx: _Context) -> list[list[Any]]:
    f, form = r.fields, ctx.form
    co = f.get("co_inspectors") or []
    found = f.get("confirmations")
    confirmed: dict[str, Any] = found if isinstance(found, dict) else {}
    template = await ctx.template(str(f.get("template_id", ""))) if form.people else None
    labels = {i.code: text_in(i.label, form.lang) for i in template.items()} if template else {}
    return [
        [
            r.id,
            f.get("report_number"),
            *ctx.warehouse(r),
            f.get("template_id"),
            form.word("status.inspections", f.get("status")),
            form.word("shift", f.get("shift")),
            form.time(f.get("started_at")),
            form.time(f.get("submitted_at")),
            f.get("inspector_id"),
            ctx.name(f.get("inspector_id")),
            form.agency(f.get("inspector_agency")),
            [ctx.name(c) or c for c in co],
            [
                f"{ctx.name(c) or c} {form.time(confirmed[c].get('at', ''))}"
                for c in co
                if isinstance(confirmed.get(c), dict)
            ],
            len(f.get("findings") or []),
            [labels.get(code, code) for code in f.get("findings") or []],
            form.time(f.get("reviewed_at")),
            f.get("reviewed_by"),
            ctx.name(f.get("reviewed_by")),
            f.get("review_comment"),
            f.get("summary"),
            len(f.get("photos") or []),
            form.time(r.created_at),
            form.time(r.updated_at),
            r.revision,
        ]
    ]


INSPECTION_COLUMNS = [
    _c("id", "export.id", people=False),
    _c("report_number", "field.inspections.report_number"),
    *WAREHOUSE_COLUMNS,
    _c("template_id", "field.inspections.template_id", people=False),
    _c("status", "field.inspections.status"),
    _c("shift", "field.inspections.shift"),
    _c("started_at", "field.inspections.started_at", time=True),
    _c("submitted_at", "field.inspections.submitted_at", time=True),
    _c("inspector_id", "export.inspector_id", people=False),
    _c("inspector_name", "field.inspections.inspector_id"),
    _c("inspector_agency", "field.inspections.inspector_agency"),
    _c("co_inspectors", "field.inspections.co_inspectors"),
    _c("co_inspectors_confirmed", "field.inspections.confirmations"),
    _c("findings_count", "export.findings_count"),
    _c("findings", "field.inspections.findings"),
    _c("reviewed_at", "field.inspections.reviewed_at", time=True),
    _c("reviewed_by", "export.reviewer_id", people=False),
    _c("reviewer_name", "field.inspections.reviewed_by"),
    _c("review_comment", "field.inspections.review_comment"),
    _c("summary", "field.inspections.summary"),
    _c("photos", "export.photos"),
    _c("created_at", "export.received_at", time=True),
    _c("updated_at", "export.updated_at", time=True),
    _c("revision", "export.revision", people=False),
]


async def answer_rows(r: Record, ctx: _Context) -> list[list[Any]]:
    f, form = r.fields, ctx.form
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
                    f.get("report_number"),
                    *ctx.warehouse(r),
                    template.id,
                    form.word("status.inspections", f.get("status")),
                    form.time(f.get("submitted_at")),
                    section.code,
                    text_in(section.title, form.lang),
                    item.code,
                    text_in(item.label, form.lang),
                    item.kind,
                    answer_text(item, f[name], form.lang) if form.people else f[name],
                    text_in(item.unit, form.lang),
                    form.yes(item.code in findings),
                ]
            )
    return rows


ANSWER_COLUMNS = [
    _c("inspection_id", "export.inspection_id", people=False),
    _c("report_number", "field.inspections.report_number"),
    *WAREHOUSE_COLUMNS,
    _c("template_id", "field.inspections.template_id", people=False),
    _c("inspection_status", "field.inspections.status"),
    _c("submitted_at", "field.inspections.submitted_at", time=True),
    _c("section", "export.section_code", people=False),
    _c("section_title", "export.section"),
    _c("item_code", "export.item_code", people=False),
    _c("item_label", "export.item"),
    _c("kind", "export.kind", people=False),
    _c("value", "export.answer"),
    _c("unit", "export.unit"),
    _c("is_finding", "value.finding"),
]


async def incident_rows(r: Record, ctx: _Context) -> list[list[Any]]:
    f, form = r.fields, ctx.form
    resolved = f.get("status") == "resolved"
    notified = f.get("notified") or []
    return [
        [
            r.id,
            *ctx.warehouse(r),
            form.word("category", f.get("category")),
            form.word("severity", f.get("severity")),
            form.word("status.incidents", f.get("status")),
            f.get("title"),
            f.get("description"),
            form.time(f.get("occurred_at")),
            f.get("location"),
            form.agency(f.get("assigned_agency")),
            f.get("reported_by"),
            ctx.name(f.get("reported_by")),
            form.agency(f.get("reporter_agency")),
            [form.agency(n) for n in notified] if form.people else notified,
            f.get("action_taken"),
            form.time(r.created_at),
            form.time(f.get("acknowledged_at")),
            f.get("acknowledged_by"),
            ctx.name(f.get("acknowledged_by")),
            form.time(f.get("resolved_at")),
            f.get("resolved_by"),
            ctx.name(f.get("resolved_by")),
            f.get("resolution"),
            hours_between(r.created_at, f.get("acknowledged_at")),
            hours_between(r.created_at, f.get("resolved_at")) if resolved else None,
            len(f.get("photos") or []),
            form.time(r.updated_at),
            r.revision,
        ]
    ]


INCIDENT_COLUMNS = [
    _c("id", "export.id", people=False),
    *WAREHOUSE_COLUMNS,
    _c("category", "field.incidents.category"),
    _c("severity", "field.incidents.severity"),
    _c("status", "field.incidents.status"),
    _c("title", "field.incidents.title"),
    _c("description", "field.incidents.description"),
    _c("occurred_at", "field.incidents.occurred_at", time=True),
    _c("location", "field.incidents.location"),
    _c("assigned_agency", "field.incidents.assigned_agency"),
    _c("reported_by", "export.reporter_id", people=False),
    _c("reporter_name", "field.incidents.reported_by"),
    _c("reporter_agency", "field.incidents.reporter_agency"),
    _c("notified", "field.incidents.notified"),
    _c("action_taken", "field.incidents.action_taken"),
    _c("created_at", "export.received_at", time=True),
    _c("acknowledged_at", "field.incidents.acknowledged_at", time=True),
    _c("acknowledged_by", "export.acknowledger_id", people=False),
    _c("acknowledged_by_name", "field.incidents.acknowledged_by"),
    _c("resolved_at", "field.incidents.resolved_at", time=True),
    _c("resolved_by", "export.resolver_id", people=False),
    _c("resolved_by_name", "field.incidents.resolved_by"),
    _c("resolution", "field.incidents.resolution"),
    _c("hours_to_acknowledge", "export.hours_to_acknowledge"),
    _c("hours_to_resolve", "export.hours_to_resolve"),
    _c("photos", "export.photos"),
    _c("updated_at", "export.updated_at", time=True),
    _c("revision", "export.revision", people=False),
]


async def stock_count_rows(r: Record, ctx: _Context) -> list[list[Any]]:
    f, form = r.fields, ctx.form
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
            form.time(f.get("counted_at")),
            f.get("counted_by"),
            ctx.name(f.get("counted_by")),
            form.agency(f.get("counter_agency")),
            form.time(r.created_at),
            form.time(r.updated_at),
            r.revision,
        ]
    ]


STOCK_COUNT_COLUMNS = [
    _c("id", "export.id", people=False),
    *WAREHOUSE_COLUMNS,
    _c("inspection_id", "export.inspection_id", people=False),
    _c("item_type", "export.item_code", people=False),
    _c("item_name", "field.stock_counts.item_type"),
    _c("unit", "export.unit"),
    _c("expected", "field.stock_counts.expected"),
    _c("counted", "field.stock_counts.counted"),
    _c("difference", "export.difference"),
    _c("damaged_light", "field.stock_counts.damaged_light"),
    _c("damaged_heavy", "field.stock_counts.damaged_heavy"),
    _c("note", "field.stock_counts.note"),
    _c("counted_at", "field.stock_counts.counted_at", time=True),
    _c("counted_by", "export.counter_id", people=False),
    _c("counter_name", "field.stock_counts.counted_by"),
    _c("counter_agency", "field.stock_counts.counter_agency"),
    _c("created_at", "export.received_at", time=True),
    _c("updated_at", "export.updated_at", time=True),
    _c("revision", "export.revision", people=False),
]

RowMaker = Callable[[Record, _Context], Any]
EXPORTS: dict[str, tuple[str, list[Column], RowMaker]] = {
    "inspections": ("inspections", INSPECTION_COLUMNS, inspection_rows),
    "answers": ("inspections", ANSWER_COLUMNS, answer_rows),
    "incidents": ("incidents", INCIDENT_COLUMNS, incident_rows),
    "stock_counts": ("stock_counts", STOCK_COUNT_COLUMNS, stock_count_rows),
}


def headers(columns: list[Column], form: Form) -> list[str]:
    if not form.people:
        return [c.name for c in columns]
    out = []
    for c in columns:
        text = word(c.header, form.lang)
        out.append(f"{text} ({form.zone})" if c.time and form.zone else text)
    return out


class _Writer:
    """Rows to CSV bytes in one form: which columns, which delimiter and decimal mark."""

    def __init__(self, columns: list[Column], form: Form) -> None:
        self.keep = [i for i, c in enumerate(columns) if c.people or not form.people]
        self.delimiter = ";" if form.people and form.lang == "id" else ","
        self.decimal_comma = form.people and form.lang == "id"

    def encode(self, rows: Iterable[list[Any]]) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, delimiter=self.delimiter, lineterminator="\r\n")
        writer.writerows([cell(row[i], self.decimal_comma) for i in self.keep] for row in rows)
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
    form: Annotated[
        Literal["people", "raw"],
        Parameter(description="people: words, local times, Excel's regional format; raw: codes, UTC"),
    ] = "people",
    lang: Annotated[Literal["id", "en"], Parameter(description="language of the people's form")] = "id",
) -> Stream:
    """A CSV of the records in scope (or of the given warehouses), streamed: for people by
    default (headers and values in words, local times, a byte-order mark, `;` and the decimal comma
    for `id`), the raw machine form with `form=raw`."""
    kind = name.removesuffix(".csv")
    if not name.endswith(".csv") or kind not in EXPORTS:
        raise ApiError(404, "not_found", "Ekspor tidak dikenal", available=[f"{k}.csv" for k in EXPORTS])
    collection, columns, make_rows = EXPORTS[kind]
    scope = scoped(actor, warehouse_ids)
    settings = settings_of(state)
    low, high = day_bounds(start, end, settings)
    written = Form(form == "people", lang, settings.tz, settings.utc_offset_hours)
    writer = _Writer(columns, written)
    ctx = _Context(
        storage,
        await storage.warehouses(scope),
        await storage.users(),
        await storage.stock_item_types(),
        written,
    )
    records = aiter(storage.iter_records(scope, [collection], created_from=low, created_to=high))
    first = await anext(records, None)  # opens the snapshot
    head = await storage.audit_head()

    async def body() -> AsyncIterator[bytes]:
        try:
            # The byte-order mark tells Excel the file is UTF-8 (else "Kecamatan" names break).
            yield (BOM if written.people else b"") + writer.encode([headers(columns, written)])
            pending: list[list[Any]] = []
            record = first
            while record is not None:
                pending += await make_rows(record, ctx)
                if len(pending) >= FLUSH_ROWS:
                    yield writer.encode(pending)
                    pending = []
                record = await anext(records, None)
            if pending:
                yield writer.encode(pending)
        finally:
            close = getattr(records, "aclose", None)
            if close is not None:
                await close()  # ends the snapshot when the client goes away mid-file

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    suffix = "" if written.people else "-raw"
    return Stream(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="tigapilar-{kind}{suffix}-{stamp}.csv"',
            "X-Audit-Head": head[1] if head else "",
            "X-Audit-Head-Id": str(head[0]) if head else "0",
        },
    )
