"""7. Alerts: from a push's commit to the webhook delivery and to the push service's request.

A probe phone in a warehouse of its own pushes one critical incident every `PROBE_EVERY_S`. A
webhook (incident.created, that warehouse) points at a receiver on loopback in this process, and a
supervisor of that warehouse is subscribed to Web Push at a stand-in push service on loopback (each
message is decrypted with the subscription's keys to know which probe it carries). A latency runs
from the moment the probe's push is sent to the moment the receiver has the request: the commit is
inside that push, so the figure is an upper bound (the push's own time is shown beside it).

Idle: the server does nothing else. Storm: the probes run during bench/storm.py's reconnect storm
(500 phones, 10,000 new incidents: the worker fans each out too, though no target wants them).
Both run twice, with wake-up coalescing (`TIGAPILAR_ALERT_ROUND_GAP_S`, the default) and without it
(gap 0: a round per wake-up, as before): the delivery rounds the worker ran (from the line it logs
when the server stops) and the server's CPU time, over the same storm.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import http_ece
import httpx
import msgspec
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bench import storm
from bench.context import Context
from bench.env import fmt_ms, percentile
from bench.report import Section
from bench.server import Server
from bench.world import Phone, copy_db, incident_fields, make_world, person
from server.config import Config
from server.storage.alerts import PushSubscription, Webhook
from server.storage.base import Storage
from server.storage.sqlite import SqliteStorage

PROBE_EVERY_S = 0.2
SECRET = "bench-command-centre"
HEADERS = ["round gap", "phase", "probes", "push p50 / p99", "→ webhook p50 / p99", "→ push svc p50 / p99",
           "rounds", "rounds/s", "server CPU"]  # fmt: skip


@dataclass
class Arrivals:
    """When each probe's record reached the receiver and the push service (perf_counter)."""

    webhook: dict[str, float] = field(default_factory=dict)
    push: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def targets(arrivals: Arrivals, key: ec.EllipticCurvePrivateKey, auth: bytes) -> Iterator[str]:
    """One loopback server for both: /hook (the webhook receiver), /push/... (the push service)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            at = time.perf_counter()
            if self.path == "/hook":
                record, into = json.loads(body)["record"]["id"], arrivals.webhook
            else:
                plain = http_ece.decrypt(body, private_key=key, auth_secret=auth, version="aes128gcm")
                record, into = json.loads(plain)["tag"].rsplit("/", 1)[-1], arrivals.push
            with arrivals.lock:
                into.setdefault(record, at)
            self.send_response(201 if self.path != "/hook" else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Probe:
    phone: Phone
    warehouse: str
    sent: dict[str, float] = field(default_factory=dict)
    push: list[float] = field(default_factory=list)
    errors: int = 0
    error: str = ""

    async def run(self, url: str, stop: asyncio.Event, at_least: int) -> None:
        rng = random.Random(len(self.sent))
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            n = 0
            while not stop.is_set() or n < at_least:
                rid = str(uuid.uuid4())
                fields = {**incident_fields(rng, n), "severity": "kritis"}
                body = msgspec.json.encode(self.phone.push([self.phone.mutation(
                    "create", rid, warehouse_id=self.warehouse, fields=fields)]))  # fmt: skip
                t0 = time.perf_counter()
                self.sent[rid] = t0
                r = await http.post("/api/sync/push", content=body, headers=self.phone.headers)
                self.push.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    self.errors += 1
                    self.error = self.error or f"{r.status_code} {r.text[:200]}"
                n += 1
                await asyncio.sleep(max(0.0, PROBE_EVERY_S - (time.perf_counter() - t0)))


async def prepare(
    ctx: Context,
    storage: Storage,
    endpoint_origin: str,
    key: ec.EllipticCurvePrivateKey,
    auth: bytes,
) -> dict[str, object]:
    """The storm's world plus the probe's warehouse, phone, webhook and subscribed supervisor, in
    `storage` (closed afterwards)."""
    await storage.open()
    try:
        phones, _facts, _deltas, _notes = await storm.setup(storage, ctx)
        [wid], [probe] = await make_world(storage, warehouses=1, phones_per_warehouse=1, prefix="probe")
        supervisor = await person(storage, "spv-probe", "KPU", "supervisor", [wid], client_id="dev-spv-probe")
        now = datetime.now(UTC).isoformat()
        await storage.add_webhook(
            Webhook(id="wh-bench", url=f"{endpoint_origin}/hook", events=["incident.created"],
                    warehouses=[wid], allow_private=True, created_at=now, created_by="bench"),
            SECRET,
        )  # fmt: skip
        public = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        await storage.put_push_subscription(
            PushSubscription(id="sub-bench", user_id=supervisor.user.id, device_id="dev-spv-probe",
                             endpoint=f"{endpoint_origin}/push/spv", p256dh=b64url(public),
                             auth=b64url(auth), lang="id", created_at=now)
        )  # fmt: skip
    finally:
        await storage.close()
    cursors = [sp.cursor for sp in phones]
    return {"phones": phones, "cursors": cursors, "probe": probe, "warehouse": wid, "key": key,
                "auth": auth}  # fmt: skip


RECIPIENT_SUBSCRIPTIONS = 5000
"""Push subscriptions added for the fan-out's read of its recipients (10 per person of the storm)."""


async def recipients_read(work: Path, reps: int = 50) -> str:
    """What a fan-out round reads of who may receive, on a copy of the world with
    RECIPIENT_SUBSCRIPTIONS subscriptions: all warehouses, users, webhooks and subscriptions (every
    round before migration 0012) against the generation row it reads now while none of them changed."""
    storage = SqliteStorage(copy_db(work / "alerts.db", work / "recipients.db"))
    await storage.open()
    try:
        users = await storage.users()
        now = datetime.now(UTC).isoformat()
        for n in range(RECIPIENT_SUBSCRIPTIONS):
            user = users[n % len(users)]
            await storage.put_push_subscription(
                PushSubscription(id=f"sub-{n}", user_id=user.id, device_id=f"dev-{n}",
                                 endpoint=f"https://push.invalid/{n}", p256dh="k", auth="a", lang="id",
                                 created_at=now)
            )  # fmt: skip

        async def everything() -> None:
            await storage.users(), await storage.push_subscriptions()
            await storage.webhooks(), await storage.warehouses()

        timings: dict[str, float] = {}
        for name, read in (("all", everything), ("generation", storage.recipients_generation)):
            started = time.perf_counter()
            for _ in range(reps):
                await read()
            timings[name] = (time.perf_counter() - started) / reps
    finally:
        await storage.close()
    return (
        f"Recipients per fan-out round ({len(users):,} users, {RECIPIENT_SUBSCRIPTIONS:,} subscriptions, "
        f"SQLite): reading them all {fmt_ms(timings['all'])}, the generation row "
        f"{timings['generation'] * 1e6:.0f} µs ({timings['all'] / timings['generation']:.0f}x); they are "
        "read again only after a change of them."
    )


def rounds_logged(log: Path) -> int:
    found = re.findall(r"alert worker stopped after (\d+) rounds", log.read_text(errors="replace"))
    return int(found[-1]) if found else -1


async def phase(
    ctx: Context,
    work: Path,
    world: dict[str, object],
    arrivals: Arrivals,
    *,
    gap: float,
    with_storm: bool,
    postgres: str = "",
    processes: int = 1,
) -> list[str]:
    """One phase, on a fresh copy of the SQLite world, or (`postgres`: its URL) on the PostgreSQL
    database as the previous phase left it, with `processes` servers (the probe on the first, the
    storm's phones alternating between them)."""
    name = f"{'pg-' if postgres else ''}{'storm' if with_storm else 'idle'}-gap{gap:g}"
    phones: list[storm.StormPhone] = world["phones"]  # type: ignore[assignment]
    for sp, cursor in zip(phones, world["cursors"], strict=True):  # type: ignore[call-overload]
        sp.cursor, sp.done, sp.reflected, sp.pulled = cursor, False, 0, 0
    probe = Probe(world["probe"], str(world["warehouse"]))  # type: ignore[arg-type]
    database: str | Path = postgres
    if not postgres:
        database = copy_db(work / "alerts.db", work / f"{name}.db")
        probe.phone.seq = 0  # a fresh copy of the database: the device's mutations start again at 1
    env = {"TIGAPILAR_ALERT_ROUND_GAP_S": str(gap), "TIGAPILAR_PUSH_ALLOW_PRIVATE": "1"}
    logs = [work / f"{name}-{k}.log" for k in range(processes)]
    servers = [Server(database, log=log, data_dir=work / f"{name}-data", env=env) for log in logs]
    for server in servers:  # one after the other: each migrates and seeds reference data at start
        server.start()
    try:
        await asyncio.sleep(1.0)  # the first idle rounds and scheduled scan are behind us
        cpu0, t0 = sum(s.cpu_seconds() for s in servers), time.perf_counter()
        stop = asyncio.Event()
        prober = asyncio.create_task(probe.run(servers[0].url, stop, at_least=ctx.size(50, 15)))
        if with_storm:
            out = await storm.storm(phones, servers)
            stop.set()
            ctx.log(f"alerts {name}: storm drained in {out.drain:.1f} s")
        else:
            stop.set()
        await prober
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
            set(probe.sent) <= set(arrivals.webhook) and set(probe.sent) <= set(arrivals.push)
        ):
            await asyncio.sleep(0.05)
        elapsed, cpu = time.perf_counter() - t0, sum(s.cpu_seconds() for s in servers) - cpu0
    finally:
        for server in servers:
            server.stop()
    rounds = sum(rounds_logged(log) for log in logs)
    if probe.error:
        ctx.log(f"alerts {name}: probe push refused: {probe.error}")
    hook = [arrivals.webhook[r] - t for r, t in probe.sent.items() if r in arrivals.webhook]
    pushed = [arrivals.push[r] - t for r, t in probe.sent.items() if r in arrivals.push]
    missing = 2 * len(probe.sent) - len(hook) - len(pushed)
    lat = lambda v: " / ".join(fmt_ms(percentile(v, q)) for q in (50, 99)) if v else "–"  # noqa: E731
    return [
        f"{gap * 1000:g} ms" + (" (default)" if gap == Config.alert_round_gap_s else " (before)"),
        f"storm ({len(phones)} phones)" if with_storm else "idle",
        f"{len(probe.sent)}" + (f" ({missing} undelivered, {probe.errors} push errors)" if missing or probe.errors else ""),  # noqa: E501
        lat(probe.push),
        lat(hook),
        lat(pushed),
        f"{rounds:,}",
        f"{rounds / (elapsed + 1.0):,.0f}",
        f"{cpu:.1f} s over {elapsed:.1f} s",
    ]  # fmt: skip


async def run(ctx: Context) -> Section:
    section = Section("alerts", "7. Alerts: push commit → webhook delivery and push-service request", HEADERS)
    work = ctx.dir("alerts")
    arrivals = Arrivals()
    # the subscription's keys, as PushManager.subscribe() makes them: the push service decrypts with them
    key = ec.generate_private_key(ec.SECP256R1())
    auth = random.Random(7).randbytes(16)
    with targets(arrivals, key, auth) as origin:
        world = await prepare(ctx, SqliteStorage(work / "alerts.db"), origin, key, auth)
        for gap in (0.0, Config.alert_round_gap_s):
            for with_storm in (False, True):
                section.add(*await phase(ctx, work, world, arrivals, gap=gap, with_storm=with_storm))
    section.notes.append(
        f"A probe push every {PROBE_EVERY_S * 1000:.0f} ms (one critical incident) in its own warehouse; "
        "latency from sending the push to the target's receipt (an upper bound of commit → delivery; "
        "the push column is its own time). Rounds/s: the worker's rounds over the phase "
        "(from server start; `alert worker stopped after N rounds` in its log). Server CPU over the "
        "phase includes the storm's pushes and pulls."
    )
    section.notes.append(await recipients_read(work))
    return section


async def run_pg(ctx: Context) -> Section:
    """`alerts-pg`: the same probes on PostgreSQL, with two server processes on one database (the
    worker runs in both; they share deliveries through leases), idle then during the storm, with
    the default round gap."""
    section = Section(
        "alerts-pg",
        f"7b. Alerts on PostgreSQL ({storm.PG_SERVERS} processes, one database): push commit → webhook"
        " and push-service request",
        HEADERS,
    )
    if not storm.postgres_available():
        section.notes.append("skipped: no $TIGAPILAR_BENCH_POSTGRES_URL and no PostgreSQL server binaries")
        return section
    from server.storage.postgres import PostgresStorage

    work = ctx.dir("alerts-pg")
    arrivals = Arrivals()
    key = ec.generate_private_key(ec.SECP256R1())
    auth = random.Random(7).randbytes(16)
    async with storm.postgres_database(ctx, work, "alerts-pg") as (url, cluster):
        with targets(arrivals, key, auth) as origin:
            world = await prepare(ctx, PostgresStorage(url, data_dir=work / "data"), origin, key, auth)
            gap, servers = Config.alert_round_gap_s, storm.PG_SERVERS
            for with_storm in (False, True):  # the storm last: it changes the database for good
                row = await phase(ctx, work, world, arrivals, gap=gap, with_storm=with_storm, postgres=url,
                                  processes=servers)  # fmt: skip
                section.add(*row)
    section.notes.append(
        f"As section 7, on PostgreSQL{' (a throwaway loopback cluster: fsync off)' if cluster else ''}; "
        f"the probe pushes to the first of {storm.PG_SERVERS} `tigapilar serve` processes, the storm's "
        "phones alternate between them; rounds and CPU are both processes' (PostgreSQL's own backends "
        "not counted)."
    )
    return section
