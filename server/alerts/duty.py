"""Who of a warehouse's officers is on duty now, from the guard roster (server/roster.py, on_duty):
officers receive web pushes only while on duty, so an officer whose shift ended is not woken at
02:00 and the one who came on duty is told.

A shift's id is derived from its warehouse, day and period (sync/roster.py), so the shifts that can
be under way now are found by id, without a query of their own: those of the days around today (a
shift's day is the warehouse's local day, up to a day off the UTC one, and malam runs into the next
day)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from server.roster import on_duty
from server.storage import Storage
from sync.roster import PERIODS, shift_id

DAYS_AROUND = (-2, -1, 0, 1)
"""The days, relative to today in UTC, whose shifts may be under way now."""


def shift_ids(warehouse_id: str, now: datetime) -> list[str]:
    today = now.astimezone(UTC).date()
    return [shift_id(warehouse_id, today + timedelta(days=d), p) for d in DAYS_AROUND for p in PERIODS]


async def on_duty_by_warehouse(
    storage: Storage, warehouse_ids: Iterable[str], now: datetime
) -> dict[str, frozenset[str]]:
    """For each warehouse, the people on duty at `now` (one read of a dozen records a warehouse)."""
    ids = {w: shift_ids(w, now) for w in set(warehouse_ids)}
    records = await storage.get_records([i for shifts in ids.values() for i in shifts])
    return {
        w: on_duty([records[i] for i in shifts if i in records and records[i].collection == "shifts"], now)
        for w, shifts in ids.items()
    }
