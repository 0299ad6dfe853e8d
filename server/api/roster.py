"""The guard post for supervisors: a warehouse's roster per week, its CSV, one day's buku mutasi.

    GET /api/supervisor/roster?warehouse_id=&week=       planned vs present per agency, handovers
    GET /api/supervisor/roster.csv?warehouse_id=&week=   the same for people: one row per person
    GET /api/supervisor/mutasi?warehouse_id=&date=       one day's shifts and handovers (printable)

Planning is not here: a supervisor's plan is a sync mutation like any other (`shifts` create,
patch, copy_week), pushed by the supervisor page, so it is merged, audited and pulled by phones.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.params import Parameter, QueryParameter

from server import reports, roster
from server.api.supervisor import SUPERVISORS, check_days, settings_of
from server.auth import check_scope
from server.deps import ActorDep, StorageDep
from server.errors import ApiError
from server.models import AGENCY_NAMES, iso
from server.report_pdf import zone_name
from server.storage import Storage
from sync.domain import Actor

WarehouseId = Annotated[str, QueryParameter(name="warehouse_id", min_length=1, max_length=64)]
Week = Annotated[date | None, Parameter(description="any day of the week (default: this week)")]


class RosterPage(roster.RosterWeek, frozen=True, kw_only=True):
    officers: list[reports.Person]
    """Officers assigned to the warehouse: who the page may plan, and the names of the roster."""
    utc_offset_hours: float


class MutasiPage(roster.RosterWeek, frozen=True, kw_only=True):
    officers: list[reports.Person]
    utc_offset_hours: float
    day: str


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


async def load_week(
    actor: Actor, storage: Storage, state: State, warehouse_id: str, day: date | None
) -> tuple[roster.RosterWeek, list[reports.Person], reports.Settings]:
    check_scope(actor, warehouse_id)
    settings = settings_of(state)
    now = datetime.now(UTC)
    check_days(day)
    monday = monday_of(day or now.astimezone(settings.tz).date())
    warehouse = await storage.warehouse(warehouse_id)
    if warehouse is None:
        raise ApiError(404, "warehouse_not_found", "Gudang tidak ditemukan", warehouse_id=warehouse_id)
    records = await storage.get_records(roster.week_ids(warehouse_id, monday))
    week = roster.week(
        warehouse,
        monday,
        records,
        now=now,
        confirm_minutes=settings.handover_confirm_minutes,
        generated_at=iso(now),
    )
    people = reports.people(await storage.users_in_warehouse(warehouse_id))
    officers = sorted(
        (p for p in people.values() if p.role == "officer"), key=lambda p: (p.agency, p.full_name)
    )
    return week, officers, settings


class RosterController(Controller):
    path = "/api/supervisor"
    tags = ["supervisor"]  # noqa: RUF012
    guards = [SUPERVISORS]  # noqa: RUF012

    @get("/roster")
    async def roster_week(
        self, actor: ActorDep, storage: StorageDep, state: State, warehouse_id: WarehouseId, week: Week = None
    ) -> RosterPage:
        """A warehouse's week: per shift, who of which agency was planned and who checked in
        (present, late, absent), the pillars missing, and whether both commanders confirmed the
        handover."""
        found, officers, settings = await load_week(actor, storage, state, warehouse_id, week)
        return RosterPage(
            **{f: getattr(found, f) for f in found.__struct_fields__},
            officers=officers,
            utc_offset_hours=settings.utc_offset_hours,
        )

    @get("/roster.csv", media_type="text/csv")
    async def roster_csv(
        self, actor: ActorDep, storage: StorageDep, state: State, warehouse_id: WarehouseId, week: Week = None
    ) -> Response[bytes]:
        """The week for people: one row per person per shift, labels rather than codes, local
        times with the zone named, UTF-8 with BOM, `;` between columns (what a spreadsheet set to
        Indonesian expects)."""
        found, _, settings = await load_week(actor, storage, state, warehouse_id, week)
        names = {u.id: u.full_name for u in await storage.users()}
        rows = roster.csv_rows(found, names, AGENCY_NAMES, settings.tz, zone_name(settings.tz))
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerow(roster.ROSTER_COLUMNS)
        writer.writerows(rows)
        filename = f"jadwal-jaga-{warehouse_id}-{found.week}.csv"
        return Response(
            ("\ufeff" + out.getvalue()).encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @get("/mutasi")
    async def mutasi(
        self,
        actor: ActorDep,
        storage: StorageDep,
        state: State,
        warehouse_id: WarehouseId,
        day: Annotated[date, QueryParameter(name="date", description="the local day (YYYY-MM-DD)")],
    ) -> MutasiPage:
        """One day's buku mutasi: its shifts with who was there and what was handed over, for the
        printable page."""
        found, officers, settings = await load_week(actor, storage, state, warehouse_id, day)
        days = [d for d in found.days if d.date == day.isoformat()]
        fields = {f: getattr(found, f) for f in found.__struct_fields__}
        fields["days"] = days
        return MutasiPage(
            **fields, officers=officers, utc_offset_hours=settings.utc_offset_hours, day=day.isoformat()
        )
