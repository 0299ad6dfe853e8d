"""Property test of the guard post: random offline check-ins, check-outs, handover writes and
confirmations from several phones (two of them one officer's, two another's), pushed late, lost,
doubled. Whatever the script, once every phone has synced:

* every phone holds exactly the server's shifts and handovers (they converge);
* nobody is checked in twice: a shift's attendance has one entry per person who checked in, at the
  earliest of their applied check-ins, whichever phone pushed first;
* a handover, once confirmed by both commanders, never changes again (seen after every push);
* a confirmed handover carries one confirmation per side, by that side's commander, from
  two different people on two different devices.

The same scripts run on SQLite (tests/server/test_sync_sqlite.py) and PostgreSQL
(tests/server/test_postgres_sync.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.clock import HybridClock, parse_hlc
from sync.domain import Actor, Member
from sync.engine import SyncEngine
from sync.messages import Mutation, MutationResult
from sync.roster import handover_id, instant, shift_id
from tests.sync.helpers import WH, Phone, actor
from tests.sync.test_evidence_properties import memory_members
from tests.sync.test_properties import Ticker, _memory_store

DAY = date(2026, 2, 9)
T0 = datetime(2026, 2, 9, 0, 0, tzinfo=UTC)
SHIFTS = [shift_id(WH, DAY, "pagi"), shift_id(WH, DAY, "siang")]
HANDOVER = handover_id(SHIFTS[0])
COMMANDERS = {"outgoing": "u-sari", "incoming": "u-dedi"}

SUPERVISOR = actor("budi", role="supervisor")


def second_phone(who: Actor) -> Actor:
    return Actor(
        **{**{f: getattr(who, f) for f in who.__struct_fields__}, "client_id": who.client_id[:-1] + "2"}
    )


SARI, DEDI = actor("sari", agency="POLRI"), actor("dedi", agency="POLRI")
OFFICERS = [
    SARI,
    second_phone(SARI),
    DEDI,
    second_phone(DEDI),
    actor("joko", agency="TNI"),
    actor("wati", agency="SATPOL_PP"),
]
MEMBERS = list(
    {
        a.user_id: Member(user_id=a.user_id, role=a.role, agency=a.agency) for a in (*OFFICERS, SUPERVISOR)
    }.values()
)

PHONE = st.integers(0, len(OFFICERS) - 1)
SHIFT = st.integers(0, len(SHIFTS) - 1)
COMMANDER_PHONE = st.sampled_from([0, 1, 2, 3])
SEAL = st.sampled_from(["KPU-JB 004217", "KPU-JB 004218", ""])
_STEPS = {
    "check_in": st.tuples(st.just("check_in"), PHONE, SHIFT),
    "check_out": st.tuples(st.just("check_out"), PHONE, SHIFT),
    "write": st.tuples(st.just("write"), COMMANDER_PHONE, SEAL, st.sampled_from(["2 kunci", "3 kunci"])),
    "confirm": st.tuples(st.just("confirm"), COMMANDER_PHONE, st.booleans()),
    "push": st.tuples(st.just("push"), PHONE, st.sampled_from(["ok", "ok", "lost", "twice"])),
    "pull": st.tuples(st.just("pull"), PHONE),
    "tick": st.tuples(st.just("tick"), st.integers(1, 240)),
}
_WEIGHTS = {"check_in": 3, "check_out": 1, "write": 2, "confirm": 4, "push": 5, "pull": 4, "tick": 1}
step = st.sampled_from([k for k, w in _WEIGHTS.items() for _ in range(w)]).flatmap(_STEPS.__getitem__)

StoreFactory = Callable[[], AbstractAsyncContextManager[Any]]
AddMembers = Callable[[Any, list[Member]], Awaitable[None]]


class RosterSim:
    def __init__(self, engine: SyncEngine, ticker: Ticker) -> None:
        self.engine = engine
        self.ticker = ticker
        self.phones = [Phone(engine, who, wall=ticker) for who in OFFICERS]
        self.observer = Phone(engine, SUPERVISOR, wall=ticker)
        self.sent: dict[tuple[str, int], Mutation] = {}
        self.results: dict[tuple[str, int], MutationResult] = {}
        self.locked: dict[str, Any] | None = None

    async def plan(self) -> None:
        people = {"POLRI": ["u-sari", "u-dedi"], "TNI": ["u-joko"], "SATPOL_PP": ["u-wati"]}
        for n, (rid, commander) in enumerate(zip(SHIFTS, ["u-sari", "u-dedi"], strict=True)):
            start = T0 + timedelta(hours=8 * n)
            fields = {
                "date": DAY.isoformat(),
                "period": rid.rsplit(".", 1)[1],
                "starts_at": instant(start),
                "ends_at": instant(start + timedelta(hours=8)),
                "personnel": people,
                "commander": commander,
            }
            self.observer.mutate("create", rid, "shifts", fields, warehouse_id=WH)
        response = await self.observer.push()
        assert all(r.status == "applied" for r in response.results), response
        for phone in self.phones:
            await phone.pull()

    def queue(
        self, phone: Phone, op: str, rid: str, collection: str, fields: dict[str, Any], **kw: Any
    ) -> None:
        m = phone.mutate(op, rid, collection, fields, **kw)
        self.sent[(phone.client_id, m.seq)] = m

    async def push(self, phone: Phone, *, lost: bool = False) -> None:
        """Push the outbox; a `lost` answer is applied on the server but never reaches the phone."""
        if not phone.outbox:
            return
        response = await self.engine.push(phone.actor, phone.request())
        if not lost:
            phone.clock.receive(response.server_hlc)
        for result in response.results:
            self.results[(phone.client_id, result.seq)] = result
        await self.check_lock()

    async def check_lock(self) -> None:
        """A handover confirmed by both never changes again."""
        await self.observer.pull()
        change = self.observer.replica.get(HANDOVER)
        if change is None:
            return
        if self.locked is not None:
            assert change.fields == self.locked, "a confirmed handover changed"
        elif change.fields.get("status") == "confirmed":
            self.locked = dict(change.fields)

    async def run(self, kind: str, *args: Any) -> None:
        if kind == "tick":
            self.ticker.ms += args[0] * 60_000
        elif kind in ("check_in", "check_out"):
            self.queue(self.phones[args[0]], kind, SHIFTS[args[1]], "shifts", {})
        elif kind == "write":
            phone = self.phones[args[0]]
            fields: dict[str, Any] = {"keys": args[2]}
            if args[1]:
                fields["s.nomor_segel_pintu"] = args[1]
            if HANDOVER in phone.replica or any(m.id == HANDOVER for m in phone.outbox):
                self.queue(phone, "patch", HANDOVER, "handovers", fields)
            else:
                self.queue(
                    phone,
                    "create",
                    HANDOVER,
                    "handovers",
                    {"outgoing_shift": SHIFTS[0], **fields},
                    warehouse_id=WH,
                )
        elif kind == "confirm":
            phone = self.phones[args[0]]
            side = "outgoing" if phone.actor.user_id == "u-sari" else "incoming"
            if args[1] or HANDOVER in phone.replica:
                self.queue(phone, "confirm", HANDOVER, "handovers", {"side": side})
        elif kind == "push":
            phone = self.phones[args[0]]
            await self.push(phone, lost=args[1] == "lost")
            if args[1] == "twice":
                await self.push(phone)
        elif kind == "pull":
            await self.phones[args[0]].pull()

    async def settle(self) -> None:
        for _ in range(3):
            for phone in self.phones:
                await self.push(phone)
                await phone.pull()
        for phone in self.phones:
            assert not phone.outbox, "a mutation was never reflected"
            await phone.pull()
        await self.observer.pull()

    def check(self) -> None:
        server = {k: v for k, v in self.observer.replica.items() if v.collection in ("shifts", "handovers")}
        for phone in self.phones:
            mine = {k: v for k, v in phone.replica.items() if v.collection in ("shifts", "handovers")}
            assert {k: (v.revision, v.fields) for k, v in mine.items()} == {
                k: (v.revision, v.fields) for k, v in server.items()
            }, f"{phone.client_id} did not converge"
        for rid in SHIFTS:
            earliest: dict[str, str] = {}
            for key, m in self.sent.items():
                result = self.results.get(key)
                if m.id != rid or m.op != "check_in" or result is None or result.status != "applied":
                    continue
                who = next(p.actor.user_id for p in self.phones if p.client_id == key[0])
                at = instant(datetime.fromtimestamp(parse_hlc(m.hlc)[0] / 1000, UTC))
                earliest[who] = min(earliest.get(who, at), at)
            attendance = server[rid].fields["attendance"]
            assert {u: e["at"] for u, e in attendance.items()} == earliest, "a check-in doubled or moved"
        handover = server.get(HANDOVER)
        if handover is not None and handover.fields["status"] == "confirmed":
            confirmations = handover.fields["confirmations"]
            assert {s: c["user"] for s, c in confirmations.items()} == COMMANDERS
            assert confirmations["outgoing"]["client_id"] != confirmations["incoming"]["client_id"]


async def run_roster_script(
    make_store: StoreFactory, add_members: AddMembers, steps: list[tuple[Any, ...]]
) -> bool:
    """Run one script; whether it ended with a handover confirmed by both."""
    async with make_store() as store:
        await add_members(store, MEMBERS)
        ticker = Ticker(start=int((T0 - timedelta(hours=1)).timestamp() * 1000))
        engine = SyncEngine(store, HybridClock("server", ticker), now=ticker.iso)
        sim = RosterSim(engine, ticker)
        await sim.plan()
        for s in steps:
            await sim.run(*s)
        await sim.settle()
        sim.check()
        return sim.locked is not None


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=20, max_size=80))
def test_offline_check_ins_and_confirmations_converge_never_double_never_unlock_memory(
    steps: list[tuple[Any, ...]],
) -> None:
    asyncio.run(run_roster_script(_memory_store, memory_members, steps))
