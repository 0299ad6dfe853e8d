"""5. PWA weight: the officer app shell and how fast it is usable, offline included.

Bytes: every file the service worker precaches (the SHELL list in static/sw.js, plus sw.js), raw,
gzip -9 as a reference, and as this server actually sends them (Accept-Encoding: gzip).

Browser: headless Debian Chromium (Playwright, never a downloaded browser) against a real
`tigapilar serve` with the demo data. First visit: requests the page makes and the service
worker's precache requests, time to the login form. Then log in (online), and reload with the
network cut (the page and its service worker reach the server through the loopback forwarder of
the browser tests, tests/browser/link.py, which then refuses every connection): time from reload
to the officer's warehouse list on screen, served by the service worker and IndexedDB alone. The
online reload time is the baseline it is compared with.
"""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.context import Context
from bench.env import REPO, fmt_bytes, fmt_ms, median
from bench.report import Section
from bench.server import Server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEMO_USER, DEMO_PASSWORD = "slamet", "tigapilar"
STATIC = REPO / "static"


def shell_urls() -> list[str]:
    source = (STATIC / "sw.js").read_text(encoding="utf-8")
    block = re.search(r"const SHELL = \[(.*?)\];", source, re.S)
    if not block:
        raise RuntimeError("static/sw.js has no SHELL list")
    return re.findall(r"'([^']+)'", block[1])


def local_path(url: str) -> Path:
    return STATIC / ("index.html" if url == "/" else url.lstrip("/"))


def weigh(server: Server, urls: list[str]) -> tuple[int, int, int, int]:
    """(files, raw bytes, gzip -9 bytes, bytes as served with Accept-Encoding: gzip)."""
    raw = packed = served = 0
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for url in [*urls, "/sw.js"]:
            data = local_path(url).read_bytes()
            raw += len(data)
            packed += len(gzip.compress(data, 9))
            r = client.get(url, headers={"Accept-Encoding": "gzip"})
            r.raise_for_status()
            served += r.num_bytes_downloaded
    return len(urls) + 1, raw, packed, served


async def browse(server: Server, reloads: int) -> dict[str, object]:
    from playwright.async_api import async_playwright

    from tests.browser.link import Link

    out: dict[str, object] = {}
    link = Link(server.port)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = await browser.new_context(viewport={"width": 390, "height": 844})
            requests: list[tuple[str, bool]] = []  # (url, issued by the service worker)
            failed: list[str] = []
            context.on("request", lambda r: requests.append((r.url, r.service_worker is not None)))
            context.on("requestfailed", lambda r: failed.append(r.url))
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))

            t0 = time.perf_counter()
            await page.goto(link.url + "/")
            await page.get_by_label("Nama pengguna").wait_for(timeout=30_000)
            out["first_usable"] = time.perf_counter() - t0
            await wait_for_controller(page)
            await page.wait_for_load_state("networkidle")
            out["first_requests"] = sum(1 for _, sw in requests if not sw)
            out["first_requests_sw"] = sum(1 for _, sw in requests if sw)

            await page.get_by_label("Nama pengguna").fill(DEMO_USER)
            await page.get_by_label("Kata sandi").fill(DEMO_PASSWORD)
            await page.get_by_role("button", name="Masuk").click()
            home = page.get_by_role("heading", name="Gudang saya")
            await home.wait_for(timeout=30_000)
            await page.wait_for_load_state("networkidle")

            online, offline = [], []
            for _ in range(reloads):
                t0 = time.perf_counter()
                await page.reload()
                await home.wait_for(timeout=30_000)
                online.append(time.perf_counter() - t0)
                await page.wait_for_load_state("networkidle")
            link.refuse()
            before, failed_before = len(requests), len(failed)
            for _ in range(reloads):
                t0 = time.perf_counter()
                await page.reload()
                await home.wait_for(timeout=30_000)
                offline.append(time.perf_counter() - t0)
            link.restore()
            out["online_reload"] = online
            out["offline_reload"] = offline
            during = requests[before:]
            out["offline_page_requests"] = sum(1 for _, sw in during if not sw) / reloads
            out["offline_failed"] = (len(failed) - failed_before) / reloads
            out["errors"] = errors
        finally:
            await browser.close()
            link.close()
    return out


async def wait_for_controller(page: object, timeout_s: float = 30) -> None:
    for _ in range(int(timeout_s * 10)):
        if await page.evaluate("() => navigator.serviceWorker.controller !== null"):  # type: ignore[attr-defined]
            return
        await page.wait_for_timeout(100)  # type: ignore[attr-defined]
    raise RuntimeError("no service worker took control of the page")


def seed_demo(db: Path) -> None:
    """A new SQLite database at `db` with the demo data (`tigapilar seed-demo`)."""
    seed = subprocess.run(
        [sys.executable, "-m", "server.cli", "seed-demo", "--database", f"sqlite:///{db}"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if seed.returncode != 0:
        raise RuntimeError(f"seed-demo failed: {seed.stderr[-500:]}")


async def run(ctx: Context) -> Section:
    section = Section("pwa", "5. PWA weight and offline start", ["measure", "value", "note"])
    urls = shell_urls()
    missing = [u for u in urls if not local_path(u).is_file()]
    if missing:
        section.notes.append(f"precached but missing from static/: {', '.join(missing)}")
    work = ctx.dir("pwa")
    db = work / "pwa.db"
    seed_demo(db)
    with Server(db, log=work / "server.log") as server:
        files, raw, packed, served = weigh(server, [u for u in urls if u not in missing])
        section.add("app shell (precached files + sw.js)", f"{files} files", "")
        section.add("shell bytes, raw", fmt_bytes(raw), "")
        section.add("shell bytes, gzip -9", fmt_bytes(packed), f"{packed / raw:.0%} of raw")
        note = f"{served / raw:.0%} of raw" + ("" if served < raw * 0.9 else ": static files go uncompressed")
        section.add("shell bytes as served (Accept-Encoding: gzip)", fmt_bytes(served), note)
        try:
            b = await browse(server, reloads=ctx.size(5, 2))
        except Exception as exc:  # the app is still being written: report what exists
            section.notes.append(f"browser measurement failed: {type(exc).__name__}: {str(exc)[:300]}")
            section.check("the app loads and is usable offline in headless Chromium", False)
            return section
    online = median(b["online_reload"])  # type: ignore[arg-type]
    offline = median(b["offline_reload"])  # type: ignore[arg-type]
    section.add(
        "requests on first visit, by the page", b["first_requests"], "HTML, CSS, JS modules, icons, API"
    )
    section.add("requests on first visit, by the service worker", b["first_requests_sw"],
                "precache of the shell (cache: 'reload')")  # fmt: skip
    section.add("first visit: login form usable", fmt_ms(b["first_usable"]), "cold browser, loopback")  # type: ignore[arg-type]
    section.add("reload online → warehouse list", fmt_ms(online), "baseline")
    section.add(
        "reload offline → warehouse list", fmt_ms(offline), f"{offline / online:.2f}× the online reload"
    )
    note = f"{b['offline_failed']:.0f} failed (API calls with no network), the rest from the cache"
    section.add(
        "requests per offline reload (page → service worker)", f"{b['offline_page_requests']:.0f}", note
    )
    errors = b["errors"]
    section.check(
        f"usable after an offline reload ({ctx.size(5, 2)} reloads, no uncaught errors)", not errors
    )
    if errors:
        section.notes.append(f"uncaught page errors: {errors[:3]}")
    section.notes.append(
        "headless Chromium on the same 2 cores as the server; loopback network, so times are CPU and "
        "rendering, not transfer. On 3G the shell bytes dominate the first visit."
    )
    return section
