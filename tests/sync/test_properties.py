"""Property tests: random interleavings of phones editing offline, retrying, losing responses.

Each example runs a generated script of steps against a fresh store, then lets every phone sync to
the end and checks the protocol's promises:

* convergence: every phone's replica equals the server's state;
* exactly once: every mutation has one outcome and one audit entry; stock deltas add up exactly;
  appended notes appear once;
* nothing lost: every value ever written is current, or was overwritten by an edit whose author
  had seen it, or is kept in a conflict record; no photo added is missing.

The same properties run on the in-memory store and on the real SQLite store (tests/server).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.clock import HybridClock, parse_hlc
from sync.engine import SyncEngine, stock_level_id
from sync.errors import SequenceGap
from sync.memory import MemoryStore
from sync.messages import Mutation, MutationResult, PushRequest
from sync.store import SyncStore
from tests.sync.helpers import TEMPLATE, WH, Phone, actor, seed_stock

SEVERITIES = ("rendah", "sedang", "tinggi", "kritis")
STOCK = stock_level_id(WH, "kotak_suara")
PHONES = 3  # the last one is the supervisor

PHONE = st.integers(0, PHONES - 1)
RECORD = st.integers(0, 2)
_STEPS = {
    "create": st.tuples(st.just("create"), PHONE),
    "severity": st.tuples(st.just("severity"), PHONE, RECORD, st.sampled_from(SEVERITIES)),
    "description": st.tuples(st.just("description"), PHONE, RECORD, st.integers(0, 9)),
    "photo": st.tuples(st.just("photo"), PHONE, RECORD),
    "note": st.tuples(st.just("note"), PHONE, RECORD),
    "stock": st.tuples(st.just("stock"), PHONE, st.integers(-5, 5)),
    "delete": st.tuples(st.just("delete"), PHONE, RECORD),
    "acknowledge": st.tuples(st.just("acknowledge"), PHONE, RECORD),
    "decide": st.tuples(st.just("decide"), RECORD, st.sampled_from(SEVERITIES)),
    "push": st.tuples(st.just("push"), PHONE, st.sampled_from(["ok", "ok", "lost", "twice", "stale"])),
    "pull": st.tuples(st.just("pull"), PHONE),
}
# Syncing is as frequent as editing, so edits often meet concurrent ones from other phones.
_WEIGHTS = {
    "create": 1,
    "severity": 3,
    "description": 2,
    "photo": 1,
    "note": 1,
    "stock": 1,
    "delete": 1,
    "acknowledge": 1,
    "decide": 2,
    "push": 6,
    "pull": 6,
}
step = st.sampled_from([k for k, w in _WEIGHTS.items() for _ in range(w)]).flatmap(_STEPS.__getitem__)

StoreFactory = Callable[[], AbstractAsyncContextManager[SyncStore]]


class Ticker:
    """A shared fake wall clock that moves 1 ms per reading: every run of a script sees the same
    times, so a failure replays exactly (real clocks made last-writer-wins depend on machine load)."""

    def __init__(self, start: int = 1_764_000_000_000) -> None:
        self.ms = start

    def __call__(self) -> int:
        self.ms += 1
        return self.ms

    def iso(self) -> str:
        return datetime.fromtimestamp(self() / 1000, UTC).isoformat(timespec="milliseconds")


class Sim:
    def __init__(self, engine: SyncEngine, ticker: Ticker) -> None:
        self.engine = engine
        self.phones = [
            Phone(engine, actor("sari", agency="POLRI"), wall=ticker),
            Phone(engine, actor("joko", agency="KPU"), wall=ticker),
            Phone(engine, actor("budi", role="supervisor", agency="POLRI"), wall=ticker),
        ]
        self.ids = itertools.count(1)
        self.sent: dict[int, list[PushRequest]] = {i: [] for i in range(PHONES)}
        self.photo_no = itertools.count(1)
        self.note_no = itertools.count(1)

    def known(self, phone: Phone, collection: str = "incidents") -> list[str]:
        pending = [m.id for m in phone.outbox if m.op == "create" and m.collection == collection]
        seen = [c.id for c in phone.replica.values() if c.collection == collection]
        return sorted(set(seen) | set(pending))

    def pick(self, phone: Phone, index: int, collection: str = "incidents") -> str | None:
        known = self.known(phone, collection)
        return known[index % len(known)] if known else None

    def view(self, phone: Phone, record_id: str, field: str) -> Any:
        """What the phone shows: server state with its own pending edits on top (rebase)."""
        value = phone.replica[record_id].fields.get(field) if record_id in phone.replica else None
        for m in phone.outbox:
            if m.id == record_id and field in m.fields:
                value = m.fields[field]
        return value

    async def run(self, kind: str, *args: Any) -> None:
        phone = self.phones[args[0]] if kind not in ("decide",) else self.phones[-1]
        if kind == "create":
            phone.mutate(
                "create",
                f"inc-{next(self.ids)}",
                "incidents",
                {"category": "segel_rusak", "severity": "sedang", "description": "awal"},
                warehouse_id=WH,
            )
        elif kind in ("severity", "description", "photo", "note", "delete", "acknowledge"):
            rid = self.pick(phone, args[1])
            if rid is None:
                return
            if kind == "severity":
                phone.mutate("patch", rid, "incidents", {"severity": args[2]})
            elif kind == "description":
                phone.mutate("patch", rid, "incidents", {"description": f"{phone.actor.username}-{args[2]}"})
            elif kind == "photo":
                photos = list(self.view(phone, rid, "photos") or [])
                photos.append(f"{next(self.photo_no):064x}")
                phone.mutate("patch", rid, "incidents", {"photos": photos})
            elif kind == "note":
                phone.mutate(
                    "patch", rid, "incidents", {"notes": [{"id": f"n{next(self.note_no)}", "text": "x"}]}
                )
            else:
                phone.mutate(kind, rid, "incidents")
        elif kind == "stock":
            phone.mutate("patch", STOCK, "stock_levels", {"expected": {"delta": args[1]}})
        elif kind == "decide":
            open_ = sorted(
                c.id
                for c in phone.replica.values()
                if c.collection == "conflicts"
                and c.fields["status"] == "open"
                and c.fields["field"] == "severity"
            )
            if open_:
                phone.mutate("resolve", open_[args[0] % len(open_)], "conflicts", {"value": args[1]})
        elif kind == "push":
            await self.push(args[0], args[1])
        elif kind == "pull":
            await phone.pull(limit=3)

    async def push(self, index: int, mode: str) -> None:
        phone = self.phones[index]
        if mode == "stale" and self.sent[index]:
            request = self.sent[index][0]  # an old retry arriving late
        elif not phone.outbox:
            return
        else:
            request = phone.request()
            self.sent[index].append(request)
        times = 2 if mode == "twice" else 1
        for _ in range(times):
            try:
                response = await self.engine.push(phone.actor, request)
            except SequenceGap:
                raise AssertionError("a phone pushing its outbox in order never sees a gap") from None
            if mode != "lost":
                phone.clock.receive(response.server_hlc)

    async def settle(self) -> None:
        for _ in range(2):
            for phone in self.phones:
                if phone.outbox:
                    await phone.push()
            for phone in self.phones:
                await phone.pull(limit=4)


async def check_invariants(
    sim: Sim,
    store_records: dict[str, Any],
    outcomes: dict[tuple[str, int], Any],
    audit_counts: dict[tuple[str, int], int],
) -> None:
    # Convergence.
    server = {i: (r.revision, r.fields, r.deleted) for i, r in store_records.items() if r.warehouse_id == WH}
    for phone in sim.phones:
        assert phone.outbox == [], "every mutation is reflected after the final sync"
        mine = {i: (c.revision, c.fields, c.deleted) for i, c in phone.replica.items()}
        assert mine == server

    # Exactly once.
    mutations: list[tuple[Mutation, Any]] = []
    for key, (mutation, result) in outcomes.items():
        assert audit_counts.get(key) == 1, f"mutation {key} audited {audit_counts.get(key)} times"
        mutations.append((mutation, result))
    mutations.sort(key=lambda mr: mr[1].revision or 0)
    stock = store_records[STOCK].fields
    deltas = sum(
        m.fields["expected"]["delta"]
        for m, r in mutations
        if m.id == STOCK and m.op == "patch" and r.status != "rejected"
    )
    assert stock["expected"] == 40 + deltas
    incidents = {i: r for i, r in store_records.items() if r.collection == "incidents"}
    conflicts = [r.fields for r in store_records.values() if r.collection == "conflicts"]
    for record in incidents.values():
        ids = [n["id"] for n in record.fields.get("notes", [])]
        assert len(ids) == len(set(ids)), "an appended note appears once"

    # Nothing lost.
    for m, result in mutations:
        if result.status == "rejected" or m.op not in ("create", "patch") or m.collection != "incidents":
            continue
        if result.revision is None:
            continue  # changed nothing: the value it names was already current, written earlier
        record = incidents[m.id]
        for note in m.fields.get("notes", []):
            kept = any(c["record_id"] == m.id and c["field"] == "_deleted" for c in conflicts)
            assert kept or note["id"] in [n["id"] for n in record.fields.get("notes", [])]
        for photo in m.fields.get("photos", []):
            kept = any(c["record_id"] == m.id and c["field"] == "_deleted" for c in conflicts)
            assert kept or photo in record.fields.get("photos", [])
        for field in ("severity", "description"):
            if field not in m.fields:
                continue
            value = m.fields[field]
            if record.fields.get(field) == value:
                continue
            in_conflict = any(
                c["record_id"] == m.id
                and (
                    (c["field"] == field and value in (c["client_value"], c["server_value"]))
                    or (
                        c["field"] == "_deleted"
                        and isinstance(c["client_value"], dict)
                        and c["client_value"].get(field) == value
                    )
                )
                for c in conflicts
            )
            seen_by_overwriter = any(
                later_result.revision is not None
                and result.revision is not None
                and later_result.revision > result.revision
                and later_result.status != "rejected"
                and field in later.fields
                and later.id == m.id
                and (later.base_rev >= result.revision or parse_hlc(later.hlc)[2] == parse_hlc(m.hlc)[2])
                for later, later_result in mutations
            )
            assert in_conflict or seen_by_overwriter, f"{field}={value!r} of {m.id} was lost"


async def run_script(make_store: StoreFactory, steps: list[tuple[Any, ...]]) -> None:
    async with make_store() as store:
        ticker = Ticker()
        engine = SyncEngine(store, HybridClock("server", ticker), now=ticker.iso)
        await seed_stock(engine, expected=40, wall=ticker)
        sim = Sim(engine, ticker)
        for s in steps:
            await sim.run(*s)
        await sim.settle()
        records, outcomes, audit_counts = await snapshot(store)
        await check_invariants(sim, records, outcomes, audit_counts)


async def snapshot(
    store: Any,
) -> tuple[dict[str, Any], dict[tuple[str, int], Any], dict[tuple[str, int], int]]:
    """Everything the invariants look at, read through the backend's own inspection helpers."""
    return await store.inspect_for_tests()


def outcomes_with_mutations(
    rows: Iterable[tuple[str, int, bytes, MutationResult]], audit_contents: Iterable[bytes]
) -> dict[tuple[str, int], tuple[Mutation, MutationResult]]:
    """(client_id, seq) -> (mutation, result) for each stored outcome. A rejected outcome keeps its
    mutation; the others' is read back from the audit log, which keeps every mutation."""
    audited: dict[tuple[str, int], Mutation] = {}
    for content in audit_contents:
        entry = msgspec.json.decode(content)
        if entry["kind"] != "mutation":
            continue
        detail = entry["detail"]
        collection, _, record_id = entry["subject"].partition("/")
        audited[(entry["device"], detail["seq"])] = Mutation(
            seq=detail["seq"],
            id=record_id,
            collection=collection,
            op=detail["op"],
            base_rev=detail["base_rev"],
            warehouse_id=entry["warehouse_id"],
            fields=detail["fields"],
            hlc=detail["hlc"],
        )
    return {
        (cid, seq): (msgspec.json.decode(m, type=Mutation) if m else audited[(cid, seq)], result)
        for cid, seq, m, result in rows
    }


class _MemoryForTests(MemoryStore):
    async def inspect_for_tests(self) -> tuple[dict[str, Any], dict[Any, Any], dict[Any, int]]:
        outcomes = outcomes_with_mutations(
            ((cid, seq, o.mutation, o.result) for (cid, seq), o in self.outcome_log.items()),
            (content for chain in self.audit.values() for _, content, _, _ in chain),
        )
        counts: dict[tuple[str, int], int] = {}
        for _, content, _, _ in (e for chain in self.audit.values() for e in chain):
            entry = msgspec.json.decode(content)
            if entry["kind"] == "mutation":
                key = (entry["device"], entry["detail"]["seq"])
                counts[key] = counts.get(key, 0) + 1
        return self.records, outcomes, counts


class _memory_store:
    async def __aenter__(self) -> _MemoryForTests:
        store = _MemoryForTests()
        store.templates[TEMPLATE.id] = TEMPLATE
        return store

    async def __aexit__(self, *exc: object) -> None:
        return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=40, max_size=120))
def test_replicas_converge_exactly_once_and_nothing_is_lost_memory(steps: list[tuple[Any, ...]]) -> None:
    asyncio.run(run_script(_memory_store, steps))
