"""The scheduled events: a warehouse without an inspection within the interval (inspection.overdue)
and a device of its people not heard from for too long (device.stale). Every server process looks
now and then, from the same overview the supervisor sees; each occurrence has a key of its own
(sync.alerts), so it is raised once however many processes notice it."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar.datastructures import State

from server.api.supervisor import settings_of
from server.overview import build_overview
from server.storage import Storage
from sync.alerts import overdue_event, stale_device_event
from sync.store import AlertEvent


async def scan(storage: Storage, state: State) -> list[AlertEvent]:
    """The scheduled events as things stand now (written with Storage.raise_events)."""
    settings = settings_of(state)
    warehouses = [w.id for w in await storage.warehouses() if w.active]
    overview = await build_overview(storage, state, warehouses, settings=settings)
    at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    events: list[AlertEvent] = []
    for row in overview.warehouses:
        if row.overdue:
            last = row.last_inspection
            ref = {"id": last.id, "at": last.at, "by": last.by, "agency": last.agency} if last else None
            events.append(overdue_event(row.warehouse.id, ref, settings.inspection_interval_hours, at))
        for device in row.devices:
            if device.stale:
                seen = {
                    "device_id": device.device_id,
                    "user_id": device.user_id,
                    "name": device.name,
                    "last_contact": device.last_contact,
                }
                events.append(stale_device_event(row.warehouse.id, seen, settings.device_stale_hours, at))
    return events
