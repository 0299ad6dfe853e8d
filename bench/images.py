"""7. Logins while photos are decoded: login latency against a real `tigapilar serve`, alone and
while officers upload photos that are slow to decode, six at a time.

Three loads, each on its own server over its own fresh database, with the server's real Argon2
parameters (64 MiB, t=3):
- none: logins only (the baseline);
- ordinary photos: six uploaders sending what the app sends (1600 x 1200 JPEG), the cost of any
  upload traffic at that rate;
- scan bombs: six uploaders, each sending again and again a 0.2 MiB progressive JPEG of
  6000 x 6000 px whose last scan is repeated 200 times (about 7 s to decode with Pillow). The
  server refuses them before decoding (415 image_too_complex: more than 32 scans);
- heaviest accepted photos: six uploaders sending 6000 x 6000 progressive JPEGs of 32 scans, the
  most the server accepts (about 1 s each to decode), decoded, thumbnailed and stored.

Every upload is a different file (a comment segment with a counter), so the server decodes each.

A login is one `POST /api/auth/login` with a right password, timed from the client; the table gives
its median, 95th percentile and worst, and the ratio of the median to the baseline's.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.context import Context
from bench.env import fmt_ms, median, percentile
from bench.report import Section
from bench.server import Server
from server.auth import Passwords, new_token
from server.models import Device, UserInput, Warehouse, iso
from server.storage.sqlite import SqliteStorage
from tests.factories import scan_bomb

PASSWORD = "kata-sandi-bench-yang-panjang"
UPLOADERS = 6


async def _world(db: Path) -> list[str]:
    """A warehouse, one officer who logs in, UPLOADERS officers with tokens; returns their tokens."""
    storage = SqliteStorage(db)
    await storage.open()
    try:
        await storage.put_warehouse(
            Warehouse(
                id="gd-bench", code="bench", name="Gudang Bench", address="", kelurahan="",
                kecamatan="", kota="", floor_room="",
            )
        )  # fmt: skip
        hashed = Passwords().hash_sync(PASSWORD)  # the server's own parameters: a real login's cost
        tokens = []
        for n in range(UPLOADERS + 1):
            user = await storage.create_user(
                str(uuid.uuid4()),
                UserInput(username=f"petugas{n}", full_name=f"Petugas {n}", agency="POLRI",
                          warehouses=["gd-bench"]),
                hashed,
            )  # fmt: skip
            if n:
                token, digest = new_token()
                now = datetime.now(UTC)
                await storage.create_device(
                    Device(id=str(uuid.uuid4()), user_id=user.id, name="HP", client_id=f"bench-{n}",
                           created_at=iso(now), last_seen=iso(now), expires_at=iso(now + timedelta(days=30))),
                    digest,
                )  # fmt: skip
                tokens.append(token)
        return tokens
    finally:
        await storage.close()


def variant(photo: bytes, n: int) -> bytes:
    """The same JPEG with a comment segment (COM) holding `n` after its SOI: another hash, so the
    server decodes it again, for the cost of a few bytes."""
    text = b"bench %d" % n
    return photo[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + photo[2:]


async def _upload_loop(
    client: httpx.AsyncClient,
    token: str,
    photo: bytes,
    first: int,
    stop: asyncio.Event,
    answers: Counter[str],
) -> None:
    n = first
    while not stop.is_set():
        data = variant(photo, n)
        n += 1
        sha = hashlib.sha256(data).hexdigest()
        try:
            r = await client.put(
                f"/api/attachments/{sha}", content=data, headers={"Authorization": f"Bearer {token}"}
            )
            code = r.json().get("code", "") if r.status_code >= 400 else ""
            answers[f"{r.status_code} {code}".strip()] += 1
        except httpx.HTTPError as exc:
            answers[type(exc).__name__] += 1


async def _measure(
    server: Server, tokens: list[str], photo: bytes | None, logins: int
) -> tuple[list[float], Counter[str]]:
    """Login times while each token's officer uploads variants of `photo` without pause, and how
    the uploads were answered."""
    stop = asyncio.Event()
    answers: Counter[str] = Counter()
    timeout = httpx.Timeout(300.0)
    clients = [httpx.AsyncClient(base_url=server.url, timeout=timeout) for _ in tokens] if photo else []
    uploaders = [
        asyncio.create_task(_upload_loop(c, token, photo, n * 1_000_000, stop, answers))
        for n, (c, token) in enumerate(zip(clients, tokens, strict=False))
        if photo is not None
    ]
    times = []
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=timeout) as login_client:
            if uploaders:
                await asyncio.sleep(2.0)  # the uploads are under way
            for n in range(logins):
                body = {"username": "petugas0", "password": PASSWORD, "device_name": "HP",
                        "client_id": f"bench-login-{n % 4}"}  # fmt: skip
                t0 = time.perf_counter()
                r = await login_client.post("/api/auth/login", json=body)
                times.append(time.perf_counter() - t0)
                r.raise_for_status()
    finally:
        stop.set()
        await asyncio.gather(*uploaders)
        for c in clients:
            await c.aclose()
    return times, answers


def ordinary_photo() -> bytes:
    """What the app sends: at most 1600 px, baseline JPEG of quality 0.8 (here of noise, the worst
    case for its size: about 1 MiB)."""
    import io
    import os

    from PIL import Image

    out = io.BytesIO()
    Image.frombytes("RGB", (1600, 1200), os.urandom(1600 * 1200 * 3)).save(out, "JPEG", quality=80)
    return out.getvalue()


async def run(ctx: Context) -> Section:
    section = Section(
        "images",
        "7. Login latency while six officers upload slow-to-decode photos",
        ["load", "logins", "median", "p95", "worst", "median vs none", "upload answers"],
    )
    logins = ctx.size(40, 10)
    bomb = scan_bomb(6000, 6000, repeats=200)
    heaviest = scan_bomb(6000, 6000, repeats=22)  # 10 scans of its own + 22: the most accepted
    ordinary = ordinary_photo()
    loads: dict[str, bytes | None] = {
        "none": None,
        f"{UPLOADERS} × ordinary photo (1600 × 1200, {len(ordinary) / 1024 / 1024:.1f} MiB)": ordinary,
        f"{UPLOADERS} × scan bomb (6000 × 6000, 210 scans, {len(bomb) / 1024 / 1024:.2f} MiB)": bomb,
        f"{UPLOADERS} × heaviest accepted photo (6000 × 6000, 32 scans)": heaviest,
    }
    baseline = float("nan")
    for name, photo in loads.items():
        work = ctx.dir(f"images-{len(section.rows)}")
        tokens = await _world(work / "bench.db")
        ctx.log(f"images: {name}")
        with Server(work / "bench.db", log=work / "server.log") as server:
            times, answers = await _measure(server, tokens, photo, logins)
        mid = median(times)
        if photo is None:
            baseline = mid
        section.add(
            name,
            len(times),
            fmt_ms(mid),
            fmt_ms(percentile(times, 95)),
            fmt_ms(max(times)),
            f"{mid / baseline:.2f}×",
            ", ".join(f"{k}: {v}" for k, v in sorted(answers.items())) or "–",
        )
    section.notes.append(
        "Each load on its own `tigapilar serve` (default settings: one image worker at nice 10, two "
        "password threads) over a fresh SQLite database; logins one after another from one client "
        "while the uploaders send without pause; uploads start 2 s before the first login."
    )
    return section
