"""8. The compiled core: the same pushes through SyncEngine + SqliteStorage (no HTTP), on sync/ as
compiled by mypyc and as pure Python (TIGAPILAR_PURE_PYTHON=1), in one run.

A build is chosen per process, so each run is a subprocess of this one: pure, compiled, pure,
compiled (interleaved against the shared machine's drift). Each builds the same world in a database
of its own, then times 10 pushes of 1,000 new records and 10 of 1,000 patches of them: the engine's
wall time per mutation (median over pushes) and the process's CPU time per mutation. Where the
core is not compiled (no C compiler at install), the section says so and compares nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.context import Context
from bench.env import REPO, median
from bench.report import Section

PUSHES = 10


async def _measure(pushes: int) -> dict[str, Any]:
    from bench.world import incident_fields, make_world, patch_fields, uuid7
    from server.storage.sqlite import SqliteStorage
    from server.sync_core import build
    from sync.clock import HybridClock
    from sync.engine import SyncEngine

    with tempfile.TemporaryDirectory(prefix="tigapilar-core-") as tmp:
        storage = SqliteStorage(Path(tmp) / "core.db")
        await storage.open()
        try:
            wids, phones = await make_world(storage, warehouses=1, phones_per_warehouse=2, prefix="c")
            engine = SyncEngine(storage, HybridClock("server"))
            phone, rng, wid = phones[0], random.Random(3), wids[0]
            out: dict[str, Any] = {"build": build()}
            ids: list[str] = []
            for kind in ("create", "patch"):
                walls, cpu = [], 0.0
                for p in range(pushes + 1):  # the first push of each kind warms up, untimed
                    if kind == "create":
                        batch = [uuid7(rng, 1_770_000_000_000 + p * 1000 + k) for k in range(1000)]
                        ids += batch
                        ms = [
                            phone.mutation("create", rid, warehouse_id=wid, fields=incident_fields(rng, k))
                            for k, rid in enumerate(batch)
                        ]
                    else:
                        batch = ids[p * 1000 : (p + 1) * 1000]
                        ms = [phone.mutation("patch", rid, base_rev=1, fields=patch_fields(rng, k))
                              for k, rid in enumerate(batch)]  # fmt: skip
                    request = phone.push(ms)
                    c0, t0 = time.process_time(), time.perf_counter()
                    response = await engine.push(phone.actor, request)
                    wall, used = time.perf_counter() - t0, time.process_time() - c0
                    if any(r.status != "applied" for r in response.results):
                        raise RuntimeError(f"{kind}: not applied: {response.results[0]}")
                    if p:
                        walls.append(wall / 1000)
                        cpu += used
                out[kind] = {"wall": median(walls), "cpu": cpu / (pushes * 1000)}
            return out
        finally:
            await storage.close()


def worker() -> None:
    """Run in a subprocess: print this build's figures as JSON."""
    print(json.dumps(asyncio.run(_measure(int(os.environ.get("TIGAPILAR_CORE_PUSHES", PUSHES))))))


def _run(pure: bool, pushes: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TIGAPILAR_CORE_PUSHES": str(pushes)}
    env.pop("TIGAPILAR_PURE_PYTHON", None)
    if pure:
        env["TIGAPILAR_PURE_PYTHON"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", "from bench.core import worker; worker()"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


async def run(ctx: Context) -> Section:
    section = Section(
        "core",
        "8. The compiled core: engine + SQLite per mutation, mypyc build vs pure Python (no HTTP)",
        ["build", "create: engine wall", "create: CPU", "patch: engine wall", "patch: CPU"],
    )
    pushes = ctx.size(PUSHES, 2)
    runs: dict[str, list[dict[str, Any]]] = {}
    for _ in range(2):
        for pure in (True, False):
            r = _run(pure, pushes)
            runs.setdefault(r["build"], []).append(r)
            ctx.log(f"core: {r['build']} run done")
    if len(runs) == 1:
        section.notes.append(f"only {next(iter(runs))} here (sync/ is not compiled): nothing to compare")

    def us(build: str, kind: str, what: str) -> float:
        return median([r[kind][what] for r in runs[build]]) * 1e6

    for build in runs:
        section.add(
            build, *(f"{us(build, k, w):.1f} µs" for k in ("create", "patch") for w in ("wall", "cpu"))
        )
    if len(runs) == 2:
        pure, compiled = "pure Python", "compiled (mypyc)"
        section.add(
            "compiled / pure",
            *(
                f"{us(compiled, k, w) / us(pure, k, w):.2f}"
                for k in ("create", "patch")
                for w in ("wall", "cpu")
            ),
        )
    section.notes.append(
        "1,000-mutation pushes, medians over 2 interleaved runs per build; CPU = the process's CPU time "
        "over the timed pushes (SQLite's writer thread included) per mutation."
    )
    return section
