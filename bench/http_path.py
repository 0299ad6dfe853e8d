"""7. The HTTP path: the same server behind each HTTP stack, in one run.

Each stack serves a copy of the same database in turn, twice, interleaved (A B C A B C), so that the
shared machine's load drifts over all of them alike:

asyncio + h11, access log   uvicorn as `tigapilar serve` ran before issue 19: pure-Python
                     parser, asyncio's loop, a log line per request;
asyncio + h11        the same without the access log (the fallback where httptools/uvloop are
                     missing);
uvloop + httptools   uvicorn with llhttp (C) and libuv (`tigapilar serve`'s default now);
granian             the Rust ASGI server (pip install granian; skipped when it is not installed),
                     running the same `create_app()` (no header timeout of ours, no connection cap).

Per stack: 300 one-mutation pushes one after another (p50 and the server's CPU per push), 20
1,000-mutation pushes (mutations/s and CPU per mutation), then the reconnect storm of section 2
(500 phones × 40, 100 connected at once) on a fresh world, with its exactly-once checks. Ratios are
against the first (before) in the same run; figures are medians over the two rounds.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec

from bench import storm as storm_mod
from bench.context import Context
from bench.env import fmt_ms, fmt_rate, median, percentile
from bench.report import Section
from bench.server import Server
from bench.world import Phone, copy_db, incident_fields, make_world, uuid7
from server.storage.sqlite import SqliteStorage
from sync.messages import PushResponse

_push = msgspec.json.Decoder(PushResponse).decode


def granian_app() -> Any:
    """The app as `tigapilar serve` builds it, for granian's --factory (database from the env)."""
    from server.app import create_app
    from server.config import Config, database_from_env

    app = create_app(Config(database=database_from_env(), static_dir=None))
    gc.collect()
    gc.freeze()
    return app


def _granian(port: int) -> list[str]:
    return [
        sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1", "--no-log", "bench.http_path:granian_app",
    ]  # fmt: skip


def _granian_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("granian") is not None


@dataclass
class Stack:
    name: str
    args: list[str] = field(default_factory=list)
    command: Callable[[int], list[str]] | None = None
    one_p50: list[float] = field(default_factory=list)
    one_cpu: list[float] = field(default_factory=list)
    """Server CPU seconds per one-mutation push, per round."""
    big_rate: list[float] = field(default_factory=list)
    big_cpu: list[float] = field(default_factory=list)
    """Server CPU seconds per mutation in 1,000-mutation pushes, per round."""
    storm: list[storm_mod.Outcome] = field(default_factory=list)
    storm_ok: list[bool] = field(default_factory=list)

    def server(self, db: Path, log: Path) -> Server:
        # granian gets the database the way create_app() reads it: from the environment.
        env = {"TIGAPILAR_DATABASE": f"sqlite:///{db}"}
        return Server(db, log=log, args=self.args, command=self.command, env=env)


def stacks() -> list[Stack]:
    out = [
        Stack("asyncio + h11, access log (before)", ["--http", "h11", "--loop", "asyncio", "--access-log"]),
        Stack("asyncio + h11", ["--http", "h11", "--loop", "asyncio"]),
        Stack("uvloop + httptools", ["--http", "httptools", "--loop", "uvloop"]),
    ]
    if _granian_installed():
        out.append(Stack("granian", command=_granian))
    return out


def _bodies(phone: Phone, wid: str, count: int, size: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    bodies = []
    for i in range(count):
        ms = [
            phone.mutation("create", uuid7(rng, 1_769_000_000_000 + seed * 10_000_000 + i * size + k),
                           warehouse_id=wid, fields=incident_fields(rng, k))
            for k in range(size)
        ]  # fmt: skip
        bodies.append(msgspec.json.encode(phone.push(ms)))
    return bodies


def _pushes(client: httpx.Client, phone: Phone, bodies: list[bytes]) -> list[float]:
    times = []
    for body in bodies:
        t0 = time.perf_counter()
        r = client.post("/api/sync/push", content=body, headers=phone.headers)
        times.append(time.perf_counter() - t0)
        if r.status_code != 200:
            raise RuntimeError(f"push failed: {r.status_code} {r.text[:300]}")
        bad = [x for x in _push(r.content).results if x.status != "applied"]
        if bad:
            raise RuntimeError(f"unexpected outcome {bad[0]}")
    return times


async def _round(ctx: Context, stack: Stack, base: Path, phones: list[Phone], wid: str, k: int) -> None:
    work = base.parent
    ones, bigs = ctx.size(300, 30), ctx.size(20, 2)
    # Each stack and round its own phones (client ids), so every push is new on its copy.
    one_phone, big_phone = phones[2 * k], phones[2 * k + 1]
    warm = _bodies(one_phone, wid, 20, 1, seed=100 + k)
    one = _bodies(one_phone, wid, ones, 1, seed=200 + k)
    big = _bodies(big_phone, wid, bigs, 1000, seed=300 + k)
    db = copy_db(base, work / f"push-{k}.db")
    with (
        stack.server(db, work / f"server-{k}.log") as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        _pushes(client, one_phone, warm)
        cpu = server.cpu_seconds()
        times = _pushes(client, one_phone, one)
        stack.one_cpu.append((server.cpu_seconds() - cpu) / ones)
        stack.one_p50.append(median(times))
        cpu = server.cpu_seconds()
        times = _pushes(client, big_phone, big)
        stack.big_cpu.append((server.cpu_seconds() - cpu) / (bigs * 1000))
        stack.big_rate.append(1000 / median(times))

    storm_db = work / f"storm-{k}.db"
    storage = SqliteStorage(storm_db)
    await storage.open()
    sphones, facts, deltas, notes = await storm_mod.setup(storage, ctx)
    await storage.close()
    with stack.server(storm_db, work / f"storm-{k}.log") as server:
        await asyncio.sleep(0.5)
        out = await storm_mod.storm(sphones, [server])
    stack.storm.append(out)
    checks = Section("storm", "", storm_mod.HEADERS)
    storm_mod.judge(out, sphones, checks, stack.name)
    conn = sqlite3.connect(f"file:{storm_db}?mode=ro", uri=True)
    try:
        await storm_mod.verify(storm_mod._Sql(conn, postgres=False), sphones, facts, deltas, notes, checks)
    finally:
        conn.close()
    stack.storm_ok.append(all(ok for _, ok in checks.checks))
    os.remove(storm_db)
    ctx.log(f"http: {stack.name} round done (storm {out.drain:.1f} s)")


async def run(ctx: Context) -> Section:
    section = Section(
        "http",
        "7. The HTTP path: the same server behind each HTTP stack (medians of 2 interleaved rounds)",
        [
            "stack",
            "1-mutation push p50",
            "server CPU / 1-mutation push",
            "1,000-mutation pushes",
            "server CPU / mutation (1,000)",
            "storm drain",
            "storm push p99",
            "storm server CPU",
            "storm checks",
            "CPU / push vs before",
            "storm drain vs before",
        ],
    )
    chosen = stacks()
    rounds = 2
    work = ctx.dir("http")
    base = work / "base.db"
    storage = SqliteStorage(base)
    await storage.open()
    wids, phones = await make_world(
        storage, warehouses=1, phones_per_warehouse=2 * rounds * len(chosen), prefix="h"
    )
    await storage.close()
    k = 0
    for _ in range(rounds):
        for stack in chosen:
            await _round(ctx, stack, base, phones, wids[0], k)
            k += 1

    before = chosen[0]
    for stack in chosen:
        drains = [o.drain for o in stack.storm]
        p99s = [percentile(o.tally.push, 99) for o in stack.storm]
        section.add(
            stack.name,
            fmt_ms(median(stack.one_p50)),
            f"{median(stack.one_cpu) * 1e6:,.0f} µs",
            fmt_rate(median(stack.big_rate)) + "/s",
            f"{median(stack.big_cpu) * 1e6:,.0f} µs",
            f"{median(drains):.1f} s",
            fmt_ms(median(p99s)),
            f"{median([o.cpu for o in stack.storm]):.1f} s",
            "all ✅" if all(stack.storm_ok) else "❌",
            f"{median(stack.one_cpu) / median(before.one_cpu):.2f}",
            f"{median(drains) / median([o.drain for o in before.storm]):.2f}",
        )
    if not _granian_installed():
        section.notes.append("granian: not installed (pip install granian), so not compared.")
    section.notes.append(
        "Every stack runs the same app (`create_app`), access log off, on its own copy of one database; "
        "granian runs it without server/connections.py's header timeout and connection cap."
    )
    return section
