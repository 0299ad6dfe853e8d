"""Property: whatever pushes reach the server, in whatever order, each warehouse's overview summary
that holds is the fold of its records from scratch (server/summaries.py), and a push of what is
only counts (incidents created, edited, resolved, deleted; draft inspections) or of a new shift
brings a summary that held along with it, so the overview after it refolds nothing. Random scripts
of pushes from two phones with stale replicas (conflicts) and a supervisor's planning, moving and
deleting shifts (more than are kept), submits (which leave the summary to the overview) and
overviews, through the real sync engine and storage: SQLite, and PostgreSQL when configured."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.datastructures import State

from server import roster
from server.models import Warehouse
from server.overview import build_overview
from server.reports import Settings
from server.storage.base import Storage
from server.storage.postgres.testing import SKIP_REASON, session_databases
from sync.engine import SyncEngine
from sync.roster import instant, shift_id
from tests.factories import assert_summaries_are_folds, holding_summaries_are_folds
from tests.server.test_postgres_sync import postgres_store
from tests.server.test_sync_sqlite import sqlite_store
from tests.sync.helpers import OTHER_WH, TEMPLATE, WH, Phone, actor, incident

WAREHOUSES = (WH, OTHER_WH)
SEVERITIES = ("kritis", "tinggi", "sedang", "rendah", "tidak_dikenal")
COUNTS_ONLY = {"incident", "status", "delete", "draft"}
"""Steps whose push writes only counts: a summary that held before holds after."""

n = st.integers(0, 2)
phone = st.integers(0, 1)
warehouse = st.sampled_from(WAREHOUSES)
step = st.one_of(
    st.tuples(st.just("incident"), phone, warehouse, n, st.sampled_from(SEVERITIES)),
    st.tuples(st.just("status"), st.just(2), n, st.sampled_from(("acknowledge", "resolve", "reopen"))),
    st.tuples(st.just("delete"), phone, n),
    st.tuples(st.just("draft"), phone, warehouse, n, st.integers(0, 50)),
    st.tuples(st.just("submit"), phone, n),
    st.tuples(st.just("shift"), st.just(2), warehouse, st.integers(0, 5), st.sampled_from((0, 8, 16))),
    st.tuples(st.just("unshift"), st.just(2), warehouse, st.integers(0, 5)),
    st.tuples(st.just("pull"), phone),
    st.tuples(st.just("overview")),
)


DAY = date(2027, 1, 4)
"""Shifts are planned ahead (one that has ended can no longer be changed)."""


def _shift(wid: str, day: int) -> str:
    return shift_id(wid, DAY + timedelta(days=day), "pagi")


async def run_script(store: Storage, steps: list[tuple[Any, ...]]) -> None:
    for wid in WAREHOUSES:
        await store.put_warehouse(Warehouse(id=wid, code=wid, name=f"Gudang {wid}"))
    engine = SyncEngine(store)  # the store factories publish TEMPLATE
    phones = [Phone(engine, actor(name, warehouses=WAREHOUSES)) for name in ("sari", "budi")]
    phones.append(Phone(engine, actor("hendra", role="supervisor", agency="KPU", warehouses=WAREHOUSES)))
    await build_overview(store, State(), list(WAREHOUSES), settings=Settings())
    for s in steps:
        kind, p = s[0], phones[s[1]] if len(s) > 1 else phones[0]
        if kind == "overview":
            await build_overview(store, State(), list(WAREHOUSES), settings=Settings())
            continue
        if kind == "pull":
            await p.pull()
            continue
        if kind == "incident":
            _, _, wid, i, severity = s
            if f"inc-{i}" in p.replica:
                p.mutate("patch", f"inc-{i}", "incidents", {"severity": severity})
            else:
                p.mutate("create", f"inc-{i}", "incidents", incident(i, severity=severity), warehouse_id=wid)
        elif kind == "status":
            _, _, i, op = s
            fields = {"resolution": "Segel diganti"} if op == "resolve" else {}
            p.mutate(op, f"inc-{i}", "incidents", fields, base_rev=1)
        elif kind == "delete":
            p.mutate("delete", f"inc-{s[2]}", "incidents", base_rev=1)
        elif kind == "draft":
            _, _, wid, i, count = s
            if f"insp-{i}" in p.replica:
                p.mutate("patch", f"insp-{i}", "inspections", {"a.kotak_suara": count})
            else:
                fields = {
                    "template_id": TEMPLATE.id,
                    "shift": "pagi",
                    "a.segel_pintu": "ya",
                    "a.kotak_suara": count,
                }
                p.mutate("create", f"insp-{i}", "inspections", fields, warehouse_id=wid)
        elif kind == "shift":  # planned, or moved (ties and reorders among the kept shifts)
            _, _, wid, day, hour = s
            start = datetime.combine(DAY + timedelta(days=day), time(hour), UTC)
            times = {"starts_at": instant(start), "ends_at": instant(start + timedelta(hours=8))}
            if _shift(wid, day) in p.replica and not p.replica[_shift(wid, day)].deleted:
                p.mutate("patch", _shift(wid, day), "shifts", times)
            else:
                fields = {"date": (DAY + timedelta(days=day)).isoformat(), "period": "pagi", "personnel": {}}
                p.mutate("create", _shift(wid, day), "shifts", {**fields, **times}, warehouse_id=wid)
        elif kind == "unshift":
            p.mutate("delete", _shift(s[2], s[3]), "shifts")
        elif kind == "submit":
            p.mutate("submit", f"insp-{s[2]}", "inspections", base_rev=1)
        held = await holding_summaries_are_folds(store, WAREHOUSES)
        # A draft step may patch an inspection another phone submitted meanwhile: not counts.
        counts_only = kind in COUNTS_ONLY and not (kind == "draft" and await _submitted(store, s))
        # A new shift never leaves the kept ones short: it is kept, or below all of them.
        counts_only |= kind == "shift" and p.outbox[-1].op == "create"
        await p.push()
        p.outbox.clear()  # what was refused is dropped, as a phone shows and discards it
        if kind in ("shift", "unshift"):
            await p.pull()
        after = await holding_summaries_are_folds(store, WAREHOUSES)
        if counts_only:
            assert held <= after, f"{s}: a push of counts left a summary behind: {held - after}"
    await assert_summaries_are_folds(store, WAREHOUSES)


async def _submitted(store: Storage, s: tuple[Any, ...]) -> bool:
    found = [r async for r in store.iter_records(list(WAREHOUSES), ["inspections"])]
    return any(r.id == f"insp-{s[3]}" and r.fields.get("status", "draft") != "draft" for r in found)


async def _run(make: Callable[[], AbstractAsyncContextManager[Any]], steps: list[tuple[Any, ...]]) -> None:
    # Few kept shifts, so that a script plans more than are kept and removes kept ones.
    with patch.object(roster, "KEPT_SHIFTS", 2), patch.object(roster, "SPARE_SHIFTS", 1):
        async with make() as store:
            await run_script(store, steps)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=10, max_size=40))
def test_summaries_that_hold_are_folds_and_pushes_of_counts_keep_them_sqlite(
    steps: list[tuple[Any, ...]],
) -> None:
    asyncio.run(_run(sqlite_store, steps))


@pytest.mark.skipif(session_databases() is None, reason=SKIP_REASON)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=10, max_size=40))
def test_summaries_that_hold_are_folds_and_pushes_of_counts_keep_them_postgres(
    steps: list[tuple[Any, ...]],
) -> None:
    asyncio.run(_run(postgres_store, steps))
