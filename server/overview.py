"""The supervisor overview as a service (the controller in server/api/supervisor.py decodes,
checks the session's scope, calls these and encodes): each warehouse's summary folded where it
does not hold and composed with its people's device freshness (`build_overview`, also what the
scheduled alerts read), one build shared by the requests that arrive while it runs
(`SingleFlight`), and the filtered, sorted page a request asks for (`overview_page`). Also the
record and template reads the other supervisor reads share (`collect`, `templates_for`)."""

from __future__ import annotations

import asyncio
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
from litestar.datastructures import State

from server import reports, summaries
from server.storage import Storage
from sync.domain import Template
from sync.store import Record

T = TypeVar("T")
K = TypeVar("K")

_template_caches: weakref.WeakKeyDictionary[Any, dict[str, Template | None]] = weakref.WeakKeyDictionary()


async def templates_for(storage: Storage, ids: Iterable[str]) -> dict[str, Template]:
    """Templates by id, cached per storage (a published template never changes)."""
    cache = _template_caches.setdefault(storage, {})
    for template_id in set(ids) - cache.keys():
        cache[template_id] = await storage.get_template(template_id)
    return {i: t for i in set(ids) if (t := cache.get(i)) is not None}


class SingleFlight:
    """One computation per key at a time: requests arriving while it runs share its answer.

    The overview reads and folds every record in scope (~0.3 s at 20,000 records) and each open
    supervisor page reloads it after the live changes it is shown; during a reconnect storm several
    pages would otherwise rebuild the same overview side by side on the one event loop. A request
    that joins a running build gets an answer at most that build's duration old, whose `revision`
    makes its live stream replay anything newer."""

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Task[Any]] = {}

    async def run(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(compute())
            self._running[key] = task
            task.add_done_callback(lambda done: self._running.pop(key, None))
        # shield: a caller that goes away (a closed page) does not cancel the others' answer
        result: T = await asyncio.shield(task)
        return result


def kept_in_state(state: State, key: str, kind: type[K]) -> K:
    """The app's one `kind` object under `key` in its state, made on first use."""
    found = state.get(key)
    if not isinstance(found, kind):
        found = kind()
        state[key] = found
    return found


def overview_flights(state: State) -> SingleFlight:
    return kept_in_state(state, "overview_flights", SingleFlight)


async def collect(
    storage: Storage, warehouse_ids: Sequence[str], collections: Sequence[str], **bounds: Any
) -> list[Record]:
    return [r async for r in storage.iter_records(warehouse_ids, collections, **bounds)]


async def build_overview(
    storage: Storage,
    state: State,
    scope: Sequence[str],
    *,
    settings: reports.Settings,
    agency: str | None = None,
) -> reports.Overview:
    """The overview of `scope` now, from each warehouse's summary (server/summaries.py): one row
    per warehouse, whatever its records. A warehouse whose summary does not hold (none yet, or the
    stock item types changed) is folded from its records once and its summary kept (also what the
    scheduled alerts read: server/alerts/schedule.py)."""
    revision = await storage.latest_revision()
    items = tuple(await storage.stock_item_types())
    key = summaries.items_key(items)
    folds = summaries.valid_folds(await storage.warehouse_summaries(scope), key)
    stale = [w for w in scope if w not in folds]
    if stale:
        # The counters before the records: a summary kept under an older revision than what it
        # was folded from is only folded once more, never served stale.
        revisions = await storage.live_cursors(stale)
        records = await collect(storage, stale, summaries.OVERVIEW_COLLECTIONS)
        templates = await templates_for(storage, summaries.template_ids(records))
        fresh = summaries.fold(stale, records, templates, items)
        await storage.keep_summaries(summaries.summary_rows(fresh, revisions, key))
        folds.update(fresh)
    return reports.compose(
        await storage.warehouses(scope),
        folds,
        await storage.device_sync_state(scope),
        settings=settings,
        now=datetime.now(UTC),
        revision=revision,
        agency=agency,
    )


def overview_page(
    built: reports.Overview,
    *,
    kota: str | None = None,
    kecamatan: str | None = None,
    status: str | None = None,
    sort: str = "status",
    limit: int | None = None,
    offset: int = 0,
) -> reports.Overview:
    """`built` filtered by `kota` and/or `kecamatan` and/or a status or flag, sorted, then one page
    of `limit` rows from `offset` (all rows without `limit`); `total` counts the rows matching the
    filters (`by_status` counts them by status), `kotas` and `kecamatans` name what the filters can
    choose."""
    rows = reports.filter_and_sort(built.warehouses, kota=kota, kecamatan=kecamatan, status=status, sort=sort)
    page = rows[offset : None if limit is None else offset + limit]
    places = [r.warehouse for r in built.warehouses]
    in_kota = [w for w in places if not kota or w.kota.lower() == kota.lower()]
    return msgspec.structs.replace(
        built,
        warehouses=page,
        total=len(rows),
        offset=offset,
        by_status=dict(Counter(r.status for r in rows)),
        kotas=sorted({w.kota for w in places if w.kota}),
        kecamatans=sorted({w.kecamatan for w in in_kota if w.kecamatan}),
    )
