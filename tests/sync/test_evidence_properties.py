"""Property tests of the evidence rules: random scripts of operations by random users and roles.

Officers of three agencies, two supervisors and an officer of another warehouse create inspections
(listing any of them as co-inspectors), answer (sometimes with values the template refuses),
confirm, submit, review, request changes, delete, count stock (sometimes sending their own
`expected`), move stock, report and take up incidents; pushes are lost, doubled and stale. Whatever
the script, after every phone has synced:

* no inspection is reviewed by someone who created, submitted, inspected or co-inspected it;
* every signatory (a key of `confirmations`) is a listed co-inspector, assigned to the warehouse,
  who confirmed from their own device;
* no open finding is hidden: the overview's open findings hold every unreviewed inspection's
  findings, and the stock reconciliation lists every unreviewed count that differs or is damaged;
* every count's expected quantity is the one the server set: the stock level when it was applied;
* no incident is acknowledged or resolved by its reporter; stored answers fit their items.

The same scripts run on the real SQLite store (tests/server/test_sync_sqlite.py) and PostgreSQL
(tests/server/test_postgres_sync.py).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.models import UserInput, Warehouse
from server.reports import fold, reconcile
from sync.clock import HybridClock
from sync.domain import Actor, Member
from sync.engine import SyncEngine
from sync.messages import Mutation, MutationResult
from sync.rules import stock_level_id
from tests.factories import assert_summaries_are_folds
from tests.sync.helpers import TEMPLATE, WH, Phone, actor, seed_stock
from tests.sync.test_properties import Ticker, _memory_store

STOCK = stock_level_id(WH, "kotak_suara")
PEOPLE: list[Actor] = [
    actor("sari", agency="POLRI"),
    actor("joko", agency="TNI"),
    actor("yuli", agency="KPU"),
    actor("budi", role="supervisor", agency="POLRI"),
    actor("rina", role="supervisor", agency="KPU"),
]
OUTSIDER = "u-andi"  # an officer of another warehouse: never a valid co-inspector here
MEMBERS = [Member(user_id=a.user_id, role=a.role, agency=a.agency) for a in PEOPLE]

WHO = st.integers(0, len(PEOPLE) - 1)
RECORD = st.integers(0, 3)
ANSWER = st.sampled_from(["ya", "tidak", "TIDAK", "tidak\u200b", "mungkin", "na", None])
COUNT = st.sampled_from([40, 38, 41, -5, 0, "40", 2.5])
SEAL = st.sampled_from(["KPU-JB 004217", "kpu-jb 004218", "???", ""])
CO = st.lists(st.sampled_from([*(a.user_id for a in PEOPLE), OUTSIDER]), max_size=3, unique=True)
_STEPS = {
    "inspect": st.tuples(st.just("inspect"), WHO, CO, ANSWER, COUNT, SEAL, st.booleans()),
    "answer": st.tuples(st.just("answer"), WHO, RECORD, ANSWER, COUNT, SEAL),
    "confirm": st.tuples(st.just("confirm"), WHO, RECORD),
    "submit": st.tuples(st.just("submit"), WHO, RECORD),
    "review": st.tuples(st.just("review"), WHO, RECORD, st.sampled_from(["review", "request_changes"])),
    "delete": st.tuples(st.just("delete"), WHO, RECORD),
    "count": st.tuples(st.just("count"), WHO, COUNT, st.integers(0, 3), st.booleans()),
    "move": st.tuples(st.just("move"), WHO, st.integers(-6, 6)),
    "report": st.tuples(st.just("report"), WHO),
    "take_up": st.tuples(st.just("take_up"), WHO, RECORD, st.sampled_from(["acknowledge", "resolve"])),
    "push": st.tuples(st.just("push"), WHO, st.sampled_from(["ok", "ok", "lost", "twice", "stale"])),
    "pull": st.tuples(st.just("pull"), WHO),
}
_WEIGHTS = {"inspect": 4, "answer": 2, "confirm": 2, "submit": 2, "review": 4, "delete": 1, "count": 2,
            "move": 1, "report": 1, "take_up": 2, "push": 5, "pull": 4}  # fmt: skip
step = st.sampled_from([k for k, w in _WEIGHTS.items() for _ in range(w)]).flatmap(_STEPS.__getitem__)

StoreFactory = Callable[[], AbstractAsyncContextManager[Any]]
AddMembers = Callable[[Any, list[Member]], Awaitable[None]]


class EvidenceSim:
    def __init__(self, engine: SyncEngine, ticker: Ticker) -> None:
        self.engine = engine
        self.phones = [Phone(engine, a, wall=ticker) for a in PEOPLE]
        self.ids = itertools.count(1)
        self.sent: dict[int, list[Any]] = {i: [] for i in range(len(PEOPLE))}

    @staticmethod
    def answers(answer: Any, count: Any, seal: str) -> dict[str, Any]:
        return {"a.segel_pintu": answer, "a.kotak_suara": count, "a.nomor_segel": seal}

    def pick(self, phone: Phone, index: int, collection: str) -> str | None:
        pending = [m.id for m in phone.outbox if m.op == "create" and m.collection == collection]
        seen = [c.id for c in phone.replica.values() if c.collection == collection and not c.deleted]
        known = sorted(set(seen) | set(pending))
        return known[index % len(known)] if known else None

    async def run(self, kind: str, who: int, *args: Any) -> None:
        phone = self.phones[who]
        if kind == "inspect":
            co, answer, count, seal, submit = args
            fields = {"template_id": TEMPLATE.id, "shift": "pagi", "co_inspectors": list(co)}
            rid = f"ins-{next(self.ids)}"
            phone.mutate("create", rid, "inspections", fields, warehouse_id=WH)
            phone.mutate("patch", rid, "inspections", self.answers(answer, count, seal))
            if submit:
                phone.mutate("submit", rid, "inspections")
        elif kind in ("answer", "confirm", "submit", "review", "delete"):
            rid = self.pick(phone, args[0], "inspections")
            if rid is None:
                return
            if kind == "answer":
                phone.mutate("patch", rid, "inspections", self.answers(*args[1:]))
            elif kind == "review":
                fields = {"comment": "perbaiki"} if args[1] == "request_changes" else {}
                phone.mutate(args[1], rid, "inspections", fields)
            else:
                phone.mutate(kind, rid, "inspections")
        elif kind == "count":
            counted, damaged, forge = args
            fields: dict[str, Any] = {"item_type": "kotak_suara", "counted": counted}
            if damaged:
                fields["damaged_light"] = damaged
            if forge:
                fields["expected"] = counted  # the phone choosing what it is compared with
            inspection = self.pick(phone, damaged, "inspections")
            if inspection:
                fields["inspection_id"] = inspection
            phone.mutate("create", f"sc-{next(self.ids)}", "stock_counts", fields, warehouse_id=WH)
        elif kind == "move":
            phone.mutate("patch", STOCK, "stock_levels", {"expected": {"delta": args[0]}})
        elif kind == "report":
            fields = {"category": "segel_rusak", "severity": "sedang", "description": "segel longgar"}
            phone.mutate("create", f"inc-{next(self.ids)}", "incidents", fields, warehouse_id=WH)
        elif kind == "take_up":
            rid = self.pick(phone, args[0], "incidents")
            if rid is not None:
                phone.mutate(
                    args[1], rid, "incidents", {"resolution": "selesai"} if args[1] == "resolve" else {}
                )
        elif kind == "push":
            await self.push(who, args[0])
        elif kind == "pull":
            await phone.pull(limit=5)

    async def push(self, index: int, mode: str) -> None:
        phone = self.phones[index]
        if mode == "stale" and self.sent[index]:
            request = self.sent[index][0]
        elif not phone.outbox:
            return
        else:
            request = phone.request()
            self.sent[index].append(request)
        for _ in range(2 if mode == "twice" else 1):
            response = await self.engine.push(phone.actor, request)
            if mode != "lost":
                phone.clock.receive(response.server_hlc)

    async def settle(self) -> None:
        for _ in range(2):
            for phone in self.phones:
                if phone.outbox:
                    await phone.push()
            for phone in self.phones:
                await phone.pull(limit=50)


def check_evidence(
    records: dict[str, Any], outcomes: dict[tuple[str, int], tuple[Mutation, MutationResult]]
) -> None:
    live = {i: r for i, r in records.items() if r.warehouse_id == WH}
    by_client = {a.client_id: a.user_id for a in PEOPLE}
    applied = sorted(
        ((m, r, by_client.get(cid, "")) for (cid, _), (m, r) in outcomes.items() if r.status != "rejected"),
        key=lambda mr: mr[1].revision or 0,
    )
    confirmed_by = {(m.id, user) for m, r, user in applied if m.op == "confirm"}
    members = {m.user_id for m in MEMBERS}
    for record in live.values():
        f = record.fields
        if record.collection == "inspections":
            authors = {
                record.created_by,
                f.get("inspector_id"),
                f.get("submitted_by"),
                *(f.get("co_inspectors") or []),
            }
            if f.get("status") == "reviewed":
                assert f["reviewed_by"] not in authors, f"{record.id} reviewed by its author"
            for user in f.get("confirmations") or {}:
                assert user in (f.get("co_inspectors") or []) and user in members, (
                    f"{user} signed {record.id}"
                )
                assert (record.id, user) in confirmed_by, (
                    f"{user} never confirmed {record.id} from their device"
                )
            assert set(f.get("co_inspectors") or []) <= members - {f.get("inspector_id")}
            assert f.get("a.segel_pintu") in (None, "ya", "tidak", "na")
            count = f.get("a.kotak_suara")
            assert count is None or (isinstance(count, int) and not isinstance(count, bool) and count >= 0)
            assert f.get("a.nomor_segel") in (None, "", "KPU-JB 004217", "KPU-JB 004218")
        elif record.collection == "incidents":
            reporter = f.get("reported_by")
            assert reporter not in (f.get("acknowledged_by"), f.get("resolved_by")), (
                "reporter took up his report"
            )

    # No open finding hidden, in the overview nor in the stock reconciliation.
    rows = [r for r in live.values() if not r.deleted]
    state = fold([WH], rows, {TEMPLATE.id: TEMPLATE}, [])[WH]
    for record in rows:
        if record.collection == "inspections" and record.fields.get("status") in ("submitted", "needs_fix"):
            assert set(record.fields.get("findings") or []) <= set(state.open_findings), "a finding is hidden"
    reviewed = {r.id for r in rows if r.collection == "inspections" and r.fields.get("status") == "reviewed"}
    [line] = [ln for ln in reconcile(rows, {TEMPLATE.id: TEMPLATE}, []) if ln.item_type == "kotak_suara"]
    open_ids = {c.record_id for c in line.open_counts}
    for record in rows:
        f = record.fields
        if record.collection != "stock_counts" or f.get("inspection_id") in reviewed:
            continue
        off = f.get("expected") is not None and f["counted"] != f["expected"]
        if (off or f.get("damaged_light")) and not any(
            r.collection == "inspections" and r.fields.get("status") == "reviewed"
            and str(r.fields.get("reviewed_at")) > record.created_at for r in rows
        ):  # fmt: skip
            assert record.id in open_ids, f"count {record.id} is hidden"
            assert line.discrepancy

    # Every expected quantity is the server's: the stock level when the count was applied.
    level = 40
    for m, _result, _ in applied:
        if m.id == STOCK and m.op == "patch":
            level += m.fields["expected"]["delta"]
        elif m.collection == "stock_counts" and m.op == "create":
            assert "expected" not in m.fields, "a count choosing its own expected was applied"
            assert live[m.id].fields["expected"] == level


async def run_evidence_script(
    make_store: StoreFactory, add_members: AddMembers, steps: list[tuple[Any, ...]]
) -> None:
    async with make_store() as store:
        await add_members(store, MEMBERS)
        ticker = Ticker()
        engine = SyncEngine(store, HybridClock("server", ticker), now=ticker.iso)
        await seed_stock(engine, expected=40, wall=ticker)
        sim = EvidenceSim(engine, ticker)
        for s in steps:
            await sim.run(*s)
        await sim.settle()
        records, outcomes, _ = await store.inspect_for_tests()
        check_evidence(records, outcomes)
        if hasattr(store, "warehouse_summaries"):  # a server Storage keeps overview summaries
            await assert_summaries_are_folds(store, [WH])


async def memory_members(store: Any, members: list[Member]) -> None:
    store.members[WH] = {m.user_id: m for m in members}


async def storage_members(storage: Any, members: list[Member]) -> None:
    """The warehouse and its people in a server Storage (SQLite, PostgreSQL): assignments are what
    the engine reads to know who may sign."""
    await storage.put_warehouse(Warehouse(id=WH, code="johar_baru", name="Gudang Johar Baru"))
    for m in members:
        person = UserInput(username=m.user_id.removeprefix("u-"), full_name=m.user_id, agency=m.agency,
                           role=m.role, warehouses=[WH])  # fmt: skip
        await storage.create_user(m.user_id, person, "not-a-password-hash")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=30, max_size=100))
def test_evidence_holds_whoever_does_what_memory(steps: list[tuple[Any, ...]]) -> None:
    asyncio.run(run_evidence_script(_memory_store, memory_members, steps))
